package main

// istio-check waypoint   a JSON request {"configs": multi-document YAML with a Gateway of
//                        class istio-waypoint} -> for each such waypoint, the services
//                        istiod binds to it and the clusters and listeners it generates
//                        for it (WaypointConfig); needs PILOT_ENABLE_AMBIENT=true.
//
// waypoint: Istio's configuration generation for an ambient WAYPOINT proxy. Istio's
// pilot/pkg/simulation has no waypoint proxy type, so this uses the harness Istio's own
// waypoint tests use (pilot/pkg/xds/waypoint_test.go, setupWaypointTest): the xDS fake
// discovery server (pilot/test/xds), whose ambient index (pilot/pkg/serviceregistry/ambient)
// and Gateway API controller read the objects as a Kubernetes cluster would serve them,
// while the same objects go into istiod's config store. The waypoint proxy then gets its
// clusters and listeners from pilot/pkg/networking/core, as from istiod.
//
// Every Gateway API Gateway of class istio-waypoint in the configs is deployed as Istio and
// Kubernetes would deploy it, in the way waypoint_test.go models one: istiod's built-in
// GatewayClass istio-waypoint; the Service istiod's deployment controller creates
// (<name>.<namespace>, port 15008 hbone, selecting the Gateway's pods); one ready pod of it
// (a WorkloadEntry at the proxy's address with the gateway-name label, as Istio's test
// does); and the Gateway's status address (its Service's hostname), which istiod writes
// once the pod is ready and without which the ambient index ignores the Gateway.
//
// istiod reads PILOT_ENABLE_AMBIENT when it starts (Istio's ambient profile sets it to
// "true", and the ambient features derive their defaults from it); so does this binary:
// `waypoint` refuses to run without it. The mesh config is the default profile's.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"istio.io/api/label"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config/constants"
	"istio.io/istio/pkg/test"
)

// WaypointRequest is the input of `waypoint`.
type WaypointRequest struct {
	// Multi-document YAML of Istio and Gateway API objects (what `egress-mtls render` prints).
	Configs string `json:"configs"`
}

// WaypointConfig is what one waypoint proxy gets.
type WaypointConfig struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// The services istiod binds to this waypoint (push context ServicesForWaypoint, from the
	// ambient index), as namespace/hostname, sorted.
	Services  []string          `json:"services"`
	Clusters  []json.RawMessage `json:"clusters"`
	Listeners []json.RawMessage `json:"listeners"`
	// istiod's push status after this proxy's configuration (its /debug/push_status).
	PushStatus json.RawMessage `json:"pushStatus"`
}

type waypointGateway struct {
	name, namespace, ip string
}

// waypointGateways finds the Gateways of class istio-waypoint among the documents.
func waypointGateways(docs [][]byte) ([]waypointGateway, error) {
	var out []waypointGateway
	for i, doc := range docs {
		var o struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Spec struct {
				GatewayClassName string `json:"gatewayClassName"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(doc, &o); err != nil {
			return nil, badInput("document %d: %v", i+1, err)
		}
		if o.Kind != "Gateway" || !strings.HasPrefix(o.APIVersion, "gateway.networking.k8s.io/") || o.Spec.GatewayClassName != constants.WaypointGatewayClassName {
			continue
		}
		if o.Metadata.Name == "" || o.Metadata.Namespace == "" {
			return nil, badInput("document %d: a waypoint Gateway needs metadata.name and metadata.namespace", i+1)
		}
		out = append(out, waypointGateway{name: o.Metadata.Name, namespace: o.Metadata.Namespace, ip: fmt.Sprintf("10.2.0.%d", 10+len(out))})
	}
	return out, nil
}

// deployed is what a cluster holds once the waypoint's Gateway is programmed: its Service,
// its pod (as a WorkloadEntry) and, on the Gateway itself, the status address.
func deployed(w waypointGateway, i int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: %[2]s
  labels:
    gateway.istio.io/managed: istio.io-mesh-controller
    gateway.networking.k8s.io/gateway-name: %[1]s
    istio.io/gateway-name: %[1]s
spec:
  clusterIP: 10.96.1.%[4]d
  ports:
  - appProtocol: hbone
    name: mesh
    port: 15008
  selector:
    gateway.networking.k8s.io/gateway-name: %[1]s
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: %[1]s-pod
  namespace: %[2]s
spec:
  address: %[3]s
  serviceAccount: %[1]s
  labels:
    gateway.networking.k8s.io/gateway-name: %[1]s
`, w.name, w.namespace, w.ip, 10+i)
}

// withStatus adds the status address istiod writes on a programmed waypoint Gateway.
func withStatus(doc []byte, gws []waypointGateway) ([]byte, error) {
	var o map[string]any
	if err := json.Unmarshal(doc, &o); err != nil {
		return nil, err
	}
	meta, _ := o["metadata"].(map[string]any)
	for _, w := range gws {
		if o["kind"] == "Gateway" && strings.HasPrefix(fmt.Sprint(o["apiVersion"]), "gateway.networking.k8s.io/") && meta["name"] == w.name && meta["namespace"] == w.namespace {
			o["status"] = map[string]any{"addresses": []any{map[string]any{"type": "Hostname", "value": w.name + "." + w.namespace + ".svc.cluster.local"}}}
			return json.Marshal(o)
		}
	}
	return doc, nil
}

// The GatewayClass istiod creates for waypoints (pilot/pkg/config/kube/gateway, builtin classes).
const waypointClass = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: istio-waypoint
spec:
  controllerName: istio.io/mesh-controller
`

func runWaypoint(in []byte) (any, error) {
	if !features.EnableAmbient {
		return nil, badInput("run with PILOT_ENABLE_AMBIENT=true in the environment, as istiod runs under Istio's ambient profile")
	}
	var req WaypointRequest
	if err := json.Unmarshal(in, &req); err != nil {
		return nil, badInput("request: %v", err)
	}
	docs, err := splitDocuments([]byte(req.Configs))
	if err != nil {
		return nil, err
	}
	gws, err := waypointGateways(docs)
	if err != nil {
		return nil, err
	}
	if len(gws) == 0 {
		return nil, badInput("configs: no Gateway of class %s (the waypoint)", constants.WaypointGatewayClassName)
	}
	parts := []string{waypointClass}
	for _, doc := range docs {
		d, err := withStatus(doc, gws)
		if err != nil {
			return nil, err
		}
		parts = append(parts, string(d))
	}
	for i, w := range gws {
		parts = append(parts, deployed(w, i))
	}
	// As waypoint_test.go does: the ambient index reads Kubernetes objects, the config store Istio's, so both get all.
	all := strings.Join(parts, "\n---\n")
	_, _, meshConfig, err := defaultProfile()
	if err != nil {
		return nil, err
	}

	out := []WaypointConfig{}
	var result error
	werr := test.Wrap(func(t test.Failer) {
		d := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{ConfigString: all, KubernetesObjectString: all, MeshConfig: meshConfig})
		for _, w := range gws {
			proxy := d.SetupProxy(&model.Proxy{
				Type:            model.Waypoint,
				ID:              w.name + "-pod." + w.namespace,
				ConfigNamespace: w.namespace,
				Labels: map[string]string{
					label.IoK8sNetworkingGatewayGatewayName.Name: w.name,
					label.GatewayManaged.Name:                    constants.ManagedGatewayMeshControllerLabel,
				},
				IPAddresses: []string{w.ip},
				Metadata:    &model.NodeMetadata{Namespace: w.namespace, IstioVersion: "1.31.0"}, // the pinned module is Istio 1.31
			})
			wc := WaypointConfig{Name: w.name, Namespace: w.namespace, Services: []string{}, Clusters: []json.RawMessage{}, Listeners: []json.RawMessage{}}
			for _, s := range d.PushContext().ServicesForWaypoint(model.WaypointKeyForProxy(proxy)) {
				wc.Services = append(wc.Services, s.Service.Namespace+"/"+s.Service.Hostname)
			}
			sort.Strings(wc.Services)
			for _, c := range d.Clusters(proxy) {
				j, err := toJSON(c)
				if err != nil {
					result = fmt.Errorf("cluster %s: %v", c.GetName(), err)
					return
				}
				wc.Clusters = append(wc.Clusters, j)
			}
			for _, l := range d.Listeners(proxy) {
				j, err := toJSON(l)
				if err != nil {
					result = fmt.Errorf("listener %s: %v", l.GetName(), err)
					return
				}
				wc.Listeners = append(wc.Listeners, j)
			}
			status, err := d.PushContext().StatusJSON()
			if err != nil {
				result = fmt.Errorf("push status: %v", err)
				return
			}
			wc.PushStatus = status
			out = append(out, wc)
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
