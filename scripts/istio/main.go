// Command istio-check runs Istio's own code on what egress-mtls produces, for the
// test tier in test/istio. It is built from the istio.io/istio module pinned in
// go.mod by scripts/build-istio-check.sh. Every subcommand reads stdin and writes
// one JSON document on stdout; a problem with the input exits 2, anything else
// that goes wrong exits 1, with the reason on stderr.
//
//	istio-check validate   multi-document YAML of Istio objects -> istiod's
//	                       validating webhook verdict for each (see validate.go)
//	istio-check inject     multi-document YAML of workloads -> the same documents
//	                       after `istioctl kube-inject` with the default profile
//	                       (see inject.go); ENABLE_NATIVE_SIDECARS=true in the
//	                       environment selects native sidecars, as it does for istiod
//	istio-check envoy      a JSON request (configs + proxies) -> the Envoy clusters
//	                       and routes Istio generates for each proxy (see envoy.go)
//	istio-check waypoint   a JSON request (configs) -> what an ambient waypoint proxy
//	                       gets: its bound services, clusters, listeners (see waypoint.go)
//	istio-check sds        pilot-agent's secret cache and SDS server on mounted files,
//	                       one JSON line per SDS response until stdin closes (see sds.go)
//	istio-check bootstrap  istio-proxy's PROXY_CONFIG -> the Envoy bootstrap
//	                       pilot-agent writes from it (see bootstrap.go)
//	istio-check version    the istio.io/istio module version this binary was built from
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"istio.io/istio/pkg/log"
)

const usage = "usage: istio-check validate|inject|envoy|waypoint|sds|bootstrap|version < input"

// inputError marks a problem with what the caller sent (exit 2).
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }

func badInput(format string, args ...any) error {
	return inputError{fmt.Errorf(format, args...)}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	// Istio's packages log through istio.io/istio/pkg/log; keep stdout for the result.
	opts := log.DefaultOptions()
	opts.OutputPaths = []string{"stderr"}
	opts.ErrorOutputPaths = []string{"stderr"}
	opts.SetDefaultOutputLevel(log.DefaultScopeName, log.WarnLevel)
	opts.SetDefaultOutputLevel("all", log.WarnLevel)
	if err := log.Configure(opts); err != nil {
		fmt.Fprintln(os.Stderr, "istio-check: configuring Istio's logger:", err)
		os.Exit(1)
	}

	var run func([]byte) (any, error)
	switch os.Args[1] {
	case "validate":
		run = runValidate
	case "waypoint":
		run = runWaypoint
	case "inject":
		run = runInject
	case "envoy":
		run = runEnvoy
	case "sds": // streams until stdin closes (see sds.go)
		os.Exit(runSDS(os.Stdin, os.Stdout))
	case "bootstrap":
		run = runBootstrap
	case "version":
		run = func([]byte) (any, error) { return map[string]string{"istio": istioVersion()}, nil }
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var in []byte
	if os.Args[1] != "version" {
		var err error
		if in, err = io.ReadAll(os.Stdin); err != nil {
			fail(err)
		}
	}
	out, err := run(in)
	if err != nil {
		fail(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "istio-check %s: %v\n", os.Args[1], err)
	if _, ok := err.(inputError); ok {
		os.Exit(2)
	}
	os.Exit(1)
}

func istioVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "istio.io/istio" {
				return d.Version
			}
		}
	}
	return "unknown"
}
