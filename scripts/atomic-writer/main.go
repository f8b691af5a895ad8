// Command atomic-writer publishes a Secret into a directory with kubelet's own code, as
// kubelet does for a pod's Secret volume (pkg/volume/secret, SetUpAt): the API server's
// defaulting of the volume source (pkg/apis/core/v1), the payload of the volume's items
// (secret.MakePayload) and the atomic writer (pkg/volume/util AtomicWriter: a new
// timestamped directory, `..data` swapped to it by a rename, the user-visible names as
// symlinks through `..data`, the previous directory removed). Run once per version of the
// Secret, it updates the directory exactly as kubelet's periodic volume sync does.
//
// stdin: one JSON object
//
//	{"dir": "/abs/dir", "volume": <core/v1 SecretVolumeSource>, "secret": <core/v1 Secret>}
//
// stdout: one JSON line {"dataDir": "..<timestamp>"}, the directory `..data` names after
// the write. A problem with the input exits 2, a failed write exits 1, with the reason on
// stderr. Built by scripts/build-atomic-writer.sh; used by test/istio/rotation.test.ts.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	v1 "k8s.io/api/core/v1"
	corev1defaults "k8s.io/kubernetes/pkg/apis/core/v1"
	"k8s.io/kubernetes/pkg/volume/secret"
	volumeutil "k8s.io/kubernetes/pkg/volume/util"
)

type request struct {
	Dir    string                 `json:"dir"`
	Volume *v1.SecretVolumeSource `json:"volume"`
	Secret *v1.Secret             `json:"secret"`
}

// inputError marks a problem with what the caller sent (exit 2).
type inputError struct{ error }

func main() {
	if len(os.Args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: atomic-writer < {\"dir\":...,\"volume\":...,\"secret\":...}")
		os.Exit(2)
	}
	dataDir, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "atomic-writer:", err)
		var bad inputError
		if errors.As(err, &bad) {
			os.Exit(2)
		}
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]string{"dataDir": dataDir}); err != nil {
		fmt.Fprintln(os.Stderr, "atomic-writer:", err)
		os.Exit(1)
	}
}

func run() (string, error) {
	var req request
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return "", inputError{fmt.Errorf("stdin: %v", err)}
	}
	switch {
	case !filepath.IsAbs(req.Dir):
		return "", inputError{fmt.Errorf("stdin: dir must be an absolute path, got %q", req.Dir)}
	case req.Volume == nil:
		return "", inputError{errors.New("stdin: volume (a SecretVolumeSource) is missing")}
	case req.Secret == nil:
		return "", inputError{errors.New("stdin: secret (a Secret) is missing")}
	case req.Volume.SecretName != req.Secret.Name:
		return "", inputError{fmt.Errorf("stdin: volume.secretName %q is not secret.metadata.name %q", req.Volume.SecretName, req.Secret.Name)}
	}
	// What the API server stores for the pod (defaultMode 0644 when absent), then kubelet.
	corev1defaults.SetDefaults_SecretVolumeSource(req.Volume)
	optional := req.Volume.Optional != nil && *req.Volume.Optional
	payload, err := secret.MakePayload(req.Volume.Items, req.Secret, req.Volume.DefaultMode, optional)
	if err != nil {
		return "", inputError{fmt.Errorf("the volume's items: %v", err)}
	}
	// kubelet creates the volume directory before it writes; the writer insists it exists.
	if err := os.MkdirAll(req.Dir, 0o750); err != nil {
		return "", err
	}
	writer, err := volumeutil.NewAtomicWriter(req.Dir, "atomic-writer "+req.Secret.Namespace+"/"+req.Secret.Name)
	if err != nil {
		return "", err
	}
	// No fsGroup: kubelet's setPerms changes nothing then.
	if err := writer.Write(payload, nil); err != nil {
		return "", err
	}
	return os.Readlink(filepath.Join(req.Dir, "..data"))
}
