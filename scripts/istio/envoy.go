package main

// envoy: Istio's xDS configuration generation (pilot/pkg/networking/core) through the
// harness Istio's own cluster and listener tests use (core.NewConfigGenTest with
// TestOptions): the Istio objects go into istiod's in-memory config store and
// ServiceEntry registry, and for each proxy described in the request the clusters
// and HTTP routes a sidecar would receive are returned as Envoy JSON (proto field
// names, as in an Envoy config dump), with istiod's push status (what its
// /debug/push_status shows: the conflicts and duplicates it met, by metric). The mesh
// config is the default profile's.
//
// A proxy of type "router" is a gateway (as Istio's gateway chart deploys one): it gets
// its listeners too, and the request's gatewayServices put its Kubernetes Service in the
// registry with an endpoint at the proxy's own address, so that istiod finds the Service
// that selects it (which is how it maps a Gateway's port to the pod's).

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/core"
	"istio.io/istio/pilot/pkg/serviceregistry/provider"
	"istio.io/istio/pkg/config/host"
	"istio.io/istio/pkg/config/protocol"
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
		// "sidecar" (default) or "router" (a gateway).
		Type string `json:"type"`
		// The pod's IP (default 1.1.1.1); a gateway Service's endpoint is at its proxy's.
		IP string `json:"ip"`
	} `json:"proxies"`
	// Kubernetes Services of gateways, each with one endpoint: the pod of the proxy named.
	GatewayServices []GatewayService `json:"gatewayServices"`
}

// GatewayService is a gateway's Service (what Istio's gateway chart creates).
type GatewayService struct {
	Name           string            `json:"name"`
	Namespace      string            `json:"namespace"`
	Selector       map[string]string `json:"selector"`
	ServiceAccount string            `json:"serviceAccount"`
	// The pod behind it: its IP and labels.
	PodIP     string            `json:"podIP"`
	PodLabels map[string]string `json:"podLabels"`
	Ports     []struct {
		Name       string `json:"name"`
		Port       int    `json:"port"`
		TargetPort int    `json:"targetPort"`
	} `json:"ports"`
}

func gatewayRegistry(gs []GatewayService) ([]*model.Service, []*model.ServiceInstance) {
	var services []*model.Service
	var instances []*model.ServiceInstance
	for i, g := range gs {
		svc := &model.Service{
			Hostname:       host.Name(g.Name + "." + g.Namespace + ".svc.cluster.local"),
			DefaultAddress: fmt.Sprintf("10.96.0.%d", 10+i),
			Attributes: model.ServiceAttributes{
				ServiceRegistry: provider.Kubernetes,
				Name:            g.Name,
				Namespace:       g.Namespace,
				LabelSelectors:  g.Selector,
			},
		}
		for _, p := range g.Ports {
			svc.Ports = append(svc.Ports, &model.Port{Name: p.Name, Port: p.Port, Protocol: protocol.Parse(p.Name)})
		}
		services = append(services, svc)
		for j, p := range g.Ports {
			instances = append(instances, &model.ServiceInstance{
				Service:     svc,
				ServicePort: svc.Ports[j],
				Endpoint: &model.IstioEndpoint{
					Addresses:       []string{g.PodIP},
					EndpointPort:    uint32(p.TargetPort),
					ServicePortName: p.Name,
					Labels:          g.PodLabels,
					Namespace:       g.Namespace,
					ServiceAccount:  "spiffe://cluster.local/ns/" + g.Namespace + "/sa/" + g.ServiceAccount,
				},
			})
		}
	}
	return services, instances
}

// ProxyConfig is what one sidecar proxy gets.
type ProxyConfig struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
	Clusters  []json.RawMessage `json:"clusters"`
	Routes    []json.RawMessage `json:"routes"`
	// Gateways only.
	Listeners []json.RawMessage `json:"listeners,omitempty"`
	// The push status after this proxy's clusters and routes: {} when istiod met nothing to report.
	PushStatus json.RawMessage `json:"pushStatus"`
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
		services, instances := gatewayRegistry(req.GatewayServices)
		cg := core.NewConfigGenTest(t, core.TestOptions{ConfigString: req.Configs, MeshConfig: meshConfig, Services: services, Instances: instances})
		for _, p := range req.Proxies {
			if p.Name == "" || p.Namespace == "" {
				result = badInput("every proxy needs a name and a namespace")
				return
			}
			proxyType := model.SidecarProxy
			switch p.Type {
			case "", "sidecar":
			case "router":
				proxyType = model.Router
			default:
				result = badInput("proxy %s: type must be sidecar or router, not %q", p.Name, p.Type)
				return
			}
			var ips []string
			if p.IP != "" {
				ips = []string{p.IP}
			}
			proxy := cg.SetupProxy(&model.Proxy{
				Type:            proxyType,
				IPAddresses:     ips,
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
			if proxyType == model.Router {
				for _, l := range cg.Listeners(proxy) {
					j, err := toJSON(l)
					if err != nil {
						result = fmt.Errorf("listener %s: %v", l.GetName(), err)
						return
					}
					pc.Listeners = append(pc.Listeners, j)
				}
			}
			for _, r := range cg.Routes(proxy) {
				j, err := toJSON(r)
				if err != nil {
					result = fmt.Errorf("route %s: %v", r.GetName(), err)
					return
				}
				pc.Routes = append(pc.Routes, j)
			}
			status, err := cg.PushContext().StatusJSON()
			if err != nil {
				result = fmt.Errorf("push status: %v", err)
				return
			}
			pc.PushStatus = status
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
