package main

// bootstrap: what pilot-agent makes of the ProxyConfig the injector gave istio-proxy (its
// PROXY_CONFIG environment variable): the ProxyConfig as pilot-agent constructs it
// (pilot/cmd/pilot-agent/config.ConstructProxyConfig), then the Envoy bootstrap it writes
// (pkg/bootstrap: node metadata, then the bootstrap template), as JSON. The template is
// the module's tools/packaging/common/envoy_bootstrap.json, which the image ships at
// /var/lib/istio/envoy/envoy_bootstrap_tmpl.json; its path comes in ISTIO_BOOTSTRAP_TEMPLATE.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"istio.io/istio/pilot/cmd/pilot-agent/config"
	"istio.io/istio/pkg/bootstrap"
	"istio.io/istio/pkg/bootstrap/platform"
)

func runBootstrap(in []byte) (any, error) {
	template := os.Getenv("ISTIO_BOOTSTRAP_TEMPLATE")
	if template == "" {
		return nil, badInput("ISTIO_BOOTSTRAP_TEMPLATE (the path of envoy_bootstrap.json) is not set")
	}
	proxyConfig, err := config.ConstructProxyConfig("", "istio-proxy", string(in), 0)
	if err != nil {
		return nil, badInput("PROXY_CONFIG: %v", err)
	}
	node, err := bootstrap.GetNodeMetaData(bootstrap.MetadataOptions{
		ID:                  "sidecar~10.244.0.7~checkout-0.payments~payments.svc.cluster.local",
		Platform:            &platform.Unknown{},
		InstanceIPs:         []string{"10.244.0.7"},
		ProxyConfig:         proxyConfig,
		EnvoyPrometheusPort: 15090,
		EnvoyStatusPort:     15021,
	})
	if err != nil {
		return nil, fmt.Errorf("node metadata: %v", err)
	}
	var out bytes.Buffer
	if err := bootstrap.New(bootstrap.Config{Node: node}).WriteTo(template, &out); err != nil {
		return nil, fmt.Errorf("writing the bootstrap: %v", err)
	}
	var result any
	if err := json.Unmarshal(out.Bytes(), &result); err != nil {
		return nil, fmt.Errorf("the bootstrap is not JSON: %v", err)
	}
	return result, nil
}
