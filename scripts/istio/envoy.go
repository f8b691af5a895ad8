package main

// envoy: Istio's xDS configuration generation (pilot/pkg/networking/core) through the
// harness Istio's own cluster and listener tests use (core.NewConfigGenTest with
// TestOptions): the Istio objects go into istiod's in-memory config store and
// ServiceEntry registry, and for each proxy described in the request the clusters
// and HTTP routes a sidecar would receive are returned as Envoy JSON (proto field
// names, as in an Envoy config dump). The mesh config is the default profile's.

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/core"
	"istio.io/istio/pkg/test"
)

// EnvoyRequest is the input of `envoy`.
type EnvoyRequest struct {
	// Multi-document YAML of Istio objects (what `egress-mtls render` prints).
	Configs string `json:"configs"`
	// The mesh root namespace (meshConfig.rootNamespace); default istio-system.
	RootNamespace string `json:"rootNamespace"`
	Proxies       []struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"proxies"`
}

// ProxyConfig is what one sidecar proxy gets.
type ProxyConfig struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
	Clusters  []json.RawMessage `json:"clusters"`
	Routes    []json.RawMessage `json:"routes"`
}

var envoyJSON = protojson.MarshalOptions{UseProtoNames: true}

func toJSON(m proto.Message) (json.RawMessage, error) {
	b, err := envoyJSON.Marshal(m)
	return json.RawMessage(b), err
}

func runEnvoy(in []byte) (any, error) {
	var req EnvoyRequest
	if err := json.Unmarshal(in, &req); err != nil {
		return nil, badInput("request: %v", err)
	}
	if req.RootNamespace == "" {
		req.RootNamespace = "istio-system"
	}
	_, _, meshConfig, err := defaultProfile()
	if err != nil {
		return nil, err
	}
	meshConfig.RootNamespace = req.RootNamespace

	out := []ProxyConfig{}
	var result error
	// The harness reports through a test.Failer; Wrap turns a Fatal into an error.
	werr := test.Wrap(func(t test.Failer) {
		cg := core.NewConfigGenTest(t, core.TestOptions{ConfigString: req.Configs, MeshConfig: meshConfig})
		for _, p := range req.Proxies {
			if p.Name == "" || p.Namespace == "" {
				result = badInput("every proxy needs a name and a namespace")
				return
			}
			proxy := cg.SetupProxy(&model.Proxy{
				ID:              p.Name + "." + p.Namespace,
				ConfigNamespace: p.Namespace,
				Labels:          p.Labels,
				Metadata: &model.NodeMetadata{
					Namespace:    p.Namespace,
					Labels:       p.Labels,
					IstioVersion: "1.31.0", // the pinned module is Istio 1.31 (its VERSION file)
				},
			})
			pc := ProxyConfig{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, Clusters: []json.RawMessage{}, Routes: []json.RawMessage{}}
			for _, c := range cg.Clusters(proxy) {
				j, err := toJSON(c)
				if err != nil {
					result = fmt.Errorf("cluster %s: %v", c.GetName(), err)
					return
				}
				pc.Clusters = append(pc.Clusters, j)
			}
			for _, r := range cg.Routes(proxy) {
				j, err := toJSON(r)
				if err != nil {
					result = fmt.Errorf("route %s: %v", r.GetName(), err)
					return
				}
				pc.Routes = append(pc.Routes, j)
			}
			out = append(out, pc)
		}
	})
	if werr != nil {
		return nil, werr
	}
	if result != nil {
		return nil, result
	}
	return out, nil
}
