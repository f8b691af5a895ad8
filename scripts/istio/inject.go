package main

// inject: Istio's sidecar injector as `istioctl kube-inject` runs it offline
// (pkg/kube/inject.IntoResourceFile), with the injection templates, values and mesh
// config of the default installation profile, rendered from the charts embedded in
// the pinned module (operator/pkg/render, as `istioctl install` renders them; the
// same way Istio's own injection tests load them). Native sidecars follow
// ENABLE_NATIVE_SIDECARS, read from the environment as istiod reads it.

import (
	"bytes"
	"encoding/json"
	"fmt"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/operator/pkg/render"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/kube/inject"
)

// Injected is the result of `inject`.
type Injected struct {
	Profile        string   `json:"profile"`
	NativeSidecars bool     `json:"nativeSidecars"`
	Objects        []any    `json:"objects"`
	Warnings       []string `json:"warnings"`
}

// defaultProfile renders the default profile and returns what the injector reads from
// the istio-sidecar-injector and istio ConfigMaps.
func defaultProfile() (inject.Templates, inject.ValuesConfig, *meshconfig.MeshConfig, error) {
	sets, _, err := render.GenerateManifest(nil, []string{"profile=default"}, false, nil, nil)
	if err != nil {
		return nil, inject.ValuesConfig{}, nil, fmt.Errorf("rendering the default profile: %v", err)
	}
	var templates inject.Templates
	var values *inject.ValuesConfig
	var meshConfig *meshconfig.MeshConfig
	for _, set := range sets {
		for _, m := range set.Manifests {
			if m.GetKind() != "ConfigMap" {
				continue
			}
			data, _ := m.Object["data"].(map[string]any)
			switch m.GetName() {
			case "istio-sidecar-injector":
				raw, _ := data["config"].(string)
				cfg, err := inject.UnmarshalConfig([]byte(raw))
				if err != nil {
					return nil, inject.ValuesConfig{}, nil, err
				}
				templates = cfg.Templates
				vs, _ := data["values"].(string)
				vc, err := inject.NewValuesConfig(vs)
				if err != nil {
					return nil, inject.ValuesConfig{}, nil, err
				}
				values = &vc
			case "istio":
				raw, _ := data["mesh"].(string)
				if meshConfig, err = mesh.ApplyMeshConfig(raw, mesh.DefaultMeshConfig()); err != nil {
					return nil, inject.ValuesConfig{}, nil, err
				}
			}
		}
	}
	if len(templates) == 0 || values == nil || meshConfig == nil {
		return nil, inject.ValuesConfig{}, nil, fmt.Errorf("the default profile lacks the istio-sidecar-injector or istio ConfigMap")
	}
	return templates, *values, meshConfig, nil
}

func runInject(in []byte) (any, error) {
	templates, values, meshConfig, err := defaultProfile()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	result := Injected{
		Profile:        "default",
		NativeSidecars: features.EnableNativeSidecars == features.NativeSidecarModeEnabled,
		Objects:        []any{},
		Warnings:       []string{},
	}
	warn := func(w string) { result.Warnings = append(result.Warnings, w) }
	if err := inject.IntoResourceFile(nil, templates, values, "", meshConfig, bytes.NewReader(in), &out, warn); err != nil {
		return nil, badInput("%v", err)
	}
	docs, err := splitDocuments(out.Bytes())
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		result.Objects = append(result.Objects, json.RawMessage(d))
	}
	return result, nil
}
