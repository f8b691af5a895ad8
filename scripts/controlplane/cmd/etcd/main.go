// Command etcd is a minimal single-member etcd for the end-to-end test tier.
//
// It embeds go.etcd.io/etcd/server/v3/embed at the version that the pinned
// k8s.io/kubernetes uses for its etcd client, and accepts the subset of the
// real etcd's flags that envtest and test/e2e/harness.ts pass:
//
//	etcd --data-dir DIR --listen-client-urls URL --advertise-client-urls URL
//	     [--listen-peer-urls URL] [--initial-advertise-peer-urls URL]
//	     [--name NAME] [--unsafe-no-fsync] [--quota-backend-bytes N]
//	     [--log-level debug|info|warn|error] [--version]
//
// SIGTERM or SIGINT closes the server cleanly (exit 0).
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/etcd/server/v3/embed"
)

func parseURLs(flagName, value string) ([]url.URL, error) {
	var out []url.URL
	for _, s := range strings.Split(value, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("--%s: invalid URL %q", flagName, s)
		}
		out = append(out, *u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s: no URL given", flagName)
	}
	return out, nil
}

func main() {
	cfg := embed.NewConfig()

	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	name := fs.String("name", "default", "member name")
	dataDir := fs.String("data-dir", "", "path to the data directory (required)")
	listenClient := fs.String("listen-client-urls", "http://127.0.0.1:2379", "URLs to listen on for client traffic")
	advertiseClient := fs.String("advertise-client-urls", "", "client URLs to advertise (default: --listen-client-urls)")
	listenPeer := fs.String("listen-peer-urls", "http://127.0.0.1:2380", "URLs to listen on for peer traffic")
	advertisePeer := fs.String("initial-advertise-peer-urls", "", "peer URLs to advertise (default: --listen-peer-urls)")
	initialCluster := fs.String("initial-cluster", "", "initial cluster (default: this member alone)")
	noFsync := fs.Bool("unsafe-no-fsync", false, "disable fsync (tests only: data may be lost on a crash)")
	quota := fs.Int64("quota-backend-bytes", 0, "backend size quota in bytes (0: etcd's default)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *showVersion {
		fmt.Printf("etcd Version: %s (embedded, egress-mtls e2e)\n", version.Version)
		return
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "etcd: unexpected arguments: %v\n", fs.Args())
		os.Exit(2)
	}
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "etcd: --data-dir is required")
		os.Exit(2)
	}
	if *advertiseClient == "" {
		*advertiseClient = *listenClient
	}
	if *advertisePeer == "" {
		*advertisePeer = *listenPeer
	}

	must := func(u []url.URL, e error) []url.URL {
		if e != nil {
			fmt.Fprintln(os.Stderr, "etcd:", e)
			os.Exit(2)
		}
		return u
	}
	cfg.Name = *name
	cfg.Dir = *dataDir
	cfg.ListenClientUrls = must(parseURLs("listen-client-urls", *listenClient))
	cfg.AdvertiseClientUrls = must(parseURLs("advertise-client-urls", *advertiseClient))
	cfg.ListenPeerUrls = must(parseURLs("listen-peer-urls", *listenPeer))
	cfg.AdvertisePeerUrls = must(parseURLs("initial-advertise-peer-urls", *advertisePeer))
	if *initialCluster != "" {
		cfg.InitialCluster = *initialCluster
	} else {
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	}
	cfg.UnsafeNoFsync = *noFsync
	cfg.QuotaBackendBytes = *quota
	cfg.LogLevel = *logLevel

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd: start:", err)
		os.Exit(1)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)

	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "etcd: ready, serving clients on %s\n", *advertiseClient)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		fmt.Fprintln(os.Stderr, "etcd: not ready after 60s")
		os.Exit(1)
	case s := <-sig:
		e.Close()
		fmt.Fprintf(os.Stderr, "etcd: %v before ready, stopped\n", s)
		return
	}

	select {
	case err := <-e.Err():
		fmt.Fprintln(os.Stderr, "etcd: error:", err)
		e.Close()
		os.Exit(1)
	case s := <-sig:
		e.Close()
		fmt.Fprintf(os.Stderr, "etcd: %v, stopped\n", s)
	}
}
