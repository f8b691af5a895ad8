package main

// istio-check sds: pilot-agent's SDS server for the files a DestinationRule names, and an
// Envoy-like subscriber, streaming what the subscriber receives.
//
// pilot-agent wires its secret cache to its SDS server as here (pkg/istio-agent agent.go):
// cache.NewSecretManagerClient, sds.NewServer on the workload's Unix socket, and the
// cache's update callback (RegisterSecretHandler) set to the server's OnSecretUpdate. For
// a `file-cert:<cert>~<key>` or `file-root:<ca>` resource, the cache reads the files and
// watches them (following kubelet's `..data` symlink swaps); a change calls the callback,
// which pushes a new response to every stream subscribed to the resource. The subscriber
// does what Envoy does for each SdsSecretConfig of a cluster: one StreamSecrets stream
// per resource name over the socket, and an ACK (version and nonce) for each response.
//
// stdin: one JSON line {"resources": ["file-cert:...", "file-root:..."]}; then the command
// runs until stdin is closed. stdout: one JSON line per response received:
//
//	{"resource": NAME, "version": VERSION_INFO,
//	 "certificateChain": PEM, "privateKeySha256": HEX}   for a certificate and key
//	{"resource": NAME, "version": VERSION_INFO, "trustedCa": PEM}   for a root
//
// (the key itself is never printed). A stream that fails ends the command (exit 1).

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"istio.io/istio/pkg/security"
	"istio.io/istio/security/pkg/nodeagent/cache"
	"istio.io/istio/security/pkg/nodeagent/sds"
)

const secretType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

// pilot-agent's default FILE_DEBOUNCE_DURATION (pilot/cmd/pilot-agent/options): how long
// the cache waits before retrying to read a key pair that is not yet valid.
const fileDebounceDuration = 100 * time.Millisecond

type sdsRequest struct {
	Resources []string `json:"resources"`
}

type delivery struct {
	Resource         string `json:"resource"`
	Version          string `json:"version"`
	CertificateChain string `json:"certificateChain,omitempty"`
	PrivateKeySha256 string `json:"privateKeySha256,omitempty"`
	TrustedCa        string `json:"trustedCa,omitempty"`
}

// runSDS is `istio-check sds`: its exit code.
func runSDS(stdin io.Reader, stdout io.Writer) int {
	if err := serveSDS(stdin, stdout); err != nil {
		fmt.Fprintln(os.Stderr, "istio-check sds:", err)
		if _, ok := err.(inputError); ok {
			return 2
		}
		return 1
	}
	return 0
}

func serveSDS(stdin io.Reader, stdout io.Writer) error {
	in := bufio.NewReader(stdin)
	line, err := in.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return badInput("stdin: expected one JSON line {\"resources\": [...]}: %v", err)
	}
	var req sdsRequest
	dec := json.NewDecoder(strings.NewReader(string(line)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badInput("stdin: %v", err)
	}
	if len(req.Resources) == 0 {
		return badInput("stdin: resources is empty")
	}
	for _, r := range req.Resources {
		if _, ok := security.SdsCertificateConfigFromResourceName(r); !ok {
			return badInput("stdin: resource %q is neither file-cert:<cert>~<key> nor file-root:<ca>", r)
		}
	}

	// The SDS socket's path is relative to the working directory (./var/run/secrets/...):
	// a directory of our own, removed at the end.
	work, err := os.MkdirTemp("", "istio-check-sds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.Chdir(work); err != nil {
		return err
	}

	// As pilot-agent with file-mounted certificates (no CA client): the file-cert and
	// file-root resources take the same path in the cache either way.
	opts := &security.Options{FileMountedCerts: true, FileDebounceDuration: fileDebounceDuration}
	secrets, err := cache.NewSecretManagerClient(nil, opts)
	if err != nil {
		return err
	}
	defer secrets.Close()
	server := sds.NewServer(opts, secrets, nil)
	defer server.Stop()
	secrets.RegisterSecretHandler(server.OnSecretUpdate)

	conn, err := grpc.NewClient("unix://"+filepath.Join(work, security.GetIstioSDSServerSocketPath()),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lines{enc: json.NewEncoder(stdout)}
	failed := make(chan error, len(req.Resources))
	for _, name := range req.Resources {
		go func() { failed <- subscribe(ctx, secretv3.NewSecretDiscoveryServiceClient(conn), name, out) }()
	}
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, in)
		closed <- err
	}()
	select {
	case err := <-failed:
		return err
	case err := <-closed:
		return err
	}
}

// lines writes one JSON document per line, from any goroutine.
type lines struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (l *lines) write(v any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.enc.Encode(v)
}

// subscribe is Envoy's SDS subscription to one secret: a request, then an ACK per response.
func subscribe(ctx context.Context, client secretv3.SecretDiscoveryServiceClient, name string, out *lines) error {
	stream, err := client.StreamSecrets(ctx, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	node := &core.Node{Id: "sidecar~10.0.0.1~rotation.default~default.svc.cluster.local"}
	req := &discovery.DiscoveryRequest{Node: node, TypeUrl: secretType, ResourceNames: []string{name}}
	for {
		if err := stream.Send(req); err != nil {
			return fmt.Errorf("%s: sending: %v", name, err)
		}
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("%s: receiving: %v", name, err)
		}
		if len(resp.Resources) != 1 {
			return fmt.Errorf("%s: a response with %d resources", name, len(resp.Resources))
		}
		var s tlsv3.Secret
		if err := resp.Resources[0].UnmarshalTo(&s); err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		if s.Name != name {
			return fmt.Errorf("%s: a response for %q", name, s.Name)
		}
		d := delivery{Resource: name, Version: resp.VersionInfo}
		if c := s.GetTlsCertificate(); c != nil {
			d.CertificateChain = string(c.GetCertificateChain().GetInlineBytes())
			sum := sha256.Sum256(c.GetPrivateKey().GetInlineBytes())
			d.PrivateKeySha256 = hex.EncodeToString(sum[:])
		}
		if v := s.GetValidationContext(); v != nil {
			d.TrustedCa = string(v.GetTrustedCa().GetInlineBytes())
		}
		if err := out.write(d); err != nil {
			return err
		}
		// The ACK, as Envoy sends it; the server pushes the next version on its own.
		req = &discovery.DiscoveryRequest{
			Node: node, TypeUrl: secretType, ResourceNames: []string{name},
			VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce,
		}
	}
}
