package main

// validate: istiod's validating admission webhook, in process. The objects are sent
// as AdmissionReview v1 CREATE requests to the handler istiod serves at /validate
// (pkg/webhooks/validation/server, with the schemas istiod registers it with), so
// they go through the same decoding, CRD conversion, ValidateConfig (the
// pkg/config/validation rules) and top-level field check as on a cluster.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
	"istio.io/istio/pkg/webhooks/validation/server"
)

// Verdict is istiod's answer for one object.
type Verdict struct {
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Allowed   bool     `json:"allowed"`
	Message   string   `json:"message,omitempty"`
	Warnings  []string `json:"warnings"`
}

// splitDocuments returns the non-empty documents of a multi-document YAML (or JSON) stream, as JSON.
func splitDocuments(in []byte) ([][]byte, error) {
	reader := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(in)))
	var out [][]byte
	for i := 1; ; i++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, badInput("document %d: %v", i, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || strings.TrimSpace(string(raw)) == "---" {
			continue
		}
		doc, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, badInput("document %d: %v", i, err)
		}
		if string(doc) == "null" {
			continue
		}
		out = append(out, doc)
	}
}

func runValidate(in []byte) (any, error) {
	docs, err := splitDocuments(in)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	// As istiod does in pilot/pkg/bootstrap/validation.go.
	schemas := collections.PilotGatewayAPI()
	if _, err := server.New(server.Options{Schemas: schemas, DomainSuffix: "cluster.local", Mux: mux}); err != nil {
		return nil, err
	}
	verdicts := []Verdict{}
	for i, doc := range docs {
		var meta struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(doc, &meta); err != nil {
			return nil, badInput("document %d: %v", i+1, err)
		}
		gv, err := schema.ParseGroupVersion(meta.APIVersion)
		if err != nil {
			return nil, badInput("document %d: apiVersion: %v", i+1, err)
		}
		// The resource (plural) as the API server names it; the webhook itself answers "unrecognized type" for unknown kinds.
		plural := ""
		if s, ok := schemas.FindByGroupKind(resource.FromKubernetesGVK(&schema.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: meta.Kind})); ok {
			plural = s.Plural()
		}
		review := admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{
				UID:       "istio-check",
				Kind:      metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: meta.Kind},
				Resource:  metav1.GroupVersionResource{Group: gv.Group, Version: gv.Version, Resource: plural},
				Name:      meta.Metadata.Name,
				Namespace: meta.Metadata.Namespace,
				Operation: admissionv1.Create,
				Object:    runtime.RawExtension{Raw: doc},
			},
		}
		body, err := json.Marshal(review)
		if err != nil {
			return nil, err
		}
		req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("document %d: the webhook answered HTTP %d: %s", i+1, rec.Code, rec.Body.String())
		}
		var answer admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Response == nil {
			return nil, fmt.Errorf("document %d: unreadable webhook answer %q: %v", i+1, rec.Body.String(), err)
		}
		v := Verdict{
			Kind: meta.Kind, Namespace: meta.Metadata.Namespace, Name: meta.Metadata.Name,
			Allowed: answer.Response.Allowed, Warnings: append([]string{}, answer.Response.Warnings...),
		}
		if answer.Response.Result != nil {
			v.Message = answer.Response.Result.Message
		}
		verdicts = append(verdicts, v)
	}
	return verdicts, nil
}
