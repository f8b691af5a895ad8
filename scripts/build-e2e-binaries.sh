#!/usr/bin/env bash
# Builds (or finds) the binaries of the end-to-end test tier: kube-apiserver and
# etcd (module scripts/controlplane) and helm (module scripts/helm), cached
# outside the repository, keyed by version:
#
#   ${EGRESS_MTLS_CACHE:-$HOME/.cache/egress-mtls}/bin/<k8s-version>/{kube-apiserver,etcd}
#   ${EGRESS_MTLS_CACHE:-$HOME/.cache/egress-mtls}/bin/helm-<helm-version>/helm
#   ${EGRESS_MTLS_CACHE:-$HOME/.cache/egress-mtls}/bin/<k8s-version>-node/{kubelet,kube-controller-manager,kube-scheduler,pause}
#     (module scripts/node, only with E2E_NODE=1: the node tier, test/node)
#
# A binary that is already there (with a stamp matching the module's go.mod,
# go.sum and sources) is reused, so a warm run takes well under a second.
# If KUBEBUILDER_ASSETS names a directory holding kube-apiserver and etcd (envtest's
# binaries), those are used instead of building them; helm is still built.
#
# Output: progress on stderr; on stdout, one KEY=VALUE line per binary
#   KUBE_APISERVER=/abs/path
#   ETCD=/abs/path
#   HELM=/abs/path
#   KUBELET=, KUBE_CONTROLLER_MANAGER=, KUBE_SCHEDULER=, PAUSE= (with E2E_NODE=1)
# and the same lines (shell-quoted, sourceable) in $CACHE/e2e-binaries.env.
#
# Environment: EGRESS_MTLS_CACHE (cache root), KUBEBUILDER_ASSETS, GO (the go
# command, default: go on PATH, else /usr/local/go/bin/go), E2E_SKIP_HELM=1 (do not
# build helm), E2E_NODE=1 (also build the node tier's binaries).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cp_mod="$here/controlplane"
helm_mod="$here/helm"
node_mod="$here/node"
# Bump when the build recipe below (flags, ldflags) changes, to rebuild cached binaries.
recipe=2
log_tag=e2e-binaries
go_alternative=",
  or, for kube-apiserver and etcd only, point KUBEBUILDER_ASSETS at envtest's binaries
  (e.g. KUBEBUILDER_ASSETS=\$(setup-envtest use -p path 1.34.x))."
# shellcheck source=scripts/lib/go-build.sh
. "$here/lib/go-build.sh"

k8s_version=$(modver "$cp_mod/go.mod" k8s.io/kubernetes)
helm_version=$(modver "$helm_mod/go.mod" helm.sh/helm/v3)
[ -n "$k8s_version" ] || die "cannot read the k8s.io/kubernetes version from $cp_mod/go.mod"
[ -n "$helm_version" ] || die "cannot read the helm.sh/helm/v3 version from $helm_mod/go.mod"

# The version variables that Kubernetes' own build (hack/lib/version.sh) sets,
# so that /version and the node report the real version rather than v0.0.0-master.
k8s_ldflags() {
  local minor=${k8s_version#v1.} build_date ld="-s -w" pkg
  minor=${minor%%.*}
  build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    # No git commit is known for a module build: blank the '$Format:%H$' placeholder.
    ld="$ld -X $pkg.gitCommit= -X $pkg.gitTreeState=archive -X $pkg.buildDate=$build_date"
  done
  echo "$ld"
}

mkdir -p "$cache/bin"
build_lock "$cache/.build.lock"

# ---- kube-apiserver + etcd -------------------------------------------------
kube_apiserver="" etcd=""
if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  if [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
    kube_apiserver=$(cd "$KUBEBUILDER_ASSETS" && pwd)/kube-apiserver
    etcd=$(cd "$KUBEBUILDER_ASSETS" && pwd)/etcd
    log "kube-apiserver, etcd: from KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  else
    log "warning: KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks an executable kube-apiserver and etcd; building them"
  fi
fi
if [ -z "$kube_apiserver" ]; then
  cp_dir="$cache/bin/$k8s_version"
  kube_apiserver="$cp_dir/kube-apiserver"
  etcd="$cp_dir/etcd"
  cp_stamp=$(stamp_of "$cp_mod")
  if cached "$cp_dir" "$cp_stamp" kube-apiserver etcd; then
    log "kube-apiserver, etcd $k8s_version: cached in $cp_dir"
  else
    need_go "kube-apiserver and etcd"
    build_into "$cp_dir" "$cp_stamp" "kube-apiserver+etcd $k8s_version" "$cp_mod" "$(k8s_ldflags)" '' \
      k8s.io/kubernetes/cmd/kube-apiserver ./cmd/etcd
  fi
fi

# ---- helm ------------------------------------------------------------------
helm=""
if [ "${E2E_SKIP_HELM:-}" != 1 ]; then
  helm_dir="$cache/bin/helm-$helm_version"
  helm="$helm_dir/helm"
  helm_stamp=$(stamp_of "$helm_mod")
  if cached "$helm_dir" "$helm_stamp" helm; then
    log "helm $helm_version: cached in $helm_dir"
  else
    need_go "helm"
    # As helm's Makefile: the version, and the default Capabilities.KubeVersion
    # (from the client-go helm is built with; helm's fallback is an old v1.20).
    cg=$(modver "$helm_mod/go.mod" k8s.io/client-go)
    cg=${cg#v0.}
    ld="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
    ld="$ld -X helm.sh/helm/v3/internal/version.gitTreeState=archive"
    if [ -n "$cg" ]; then
      ld="$ld -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${cg%%.*}"
      ld="$ld -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${cg%%.*}"
    fi
    build_into "$helm_dir" "$helm_stamp" "helm $helm_version" "$helm_mod" "$ld" '' helm.sh/helm/v3/cmd/helm
  fi
fi

# ---- node tier: kubelet, kube-controller-manager, kube-scheduler, pause -----
node_bins=(kubelet kube-controller-manager kube-scheduler pause)
node_dir=""
if [ "${E2E_NODE:-}" = 1 ]; then
  node_k8s=$(modver "$node_mod/go.mod" k8s.io/kubernetes)
  [ "$node_k8s" = "$k8s_version" ] \
    || die "scripts/node/go.mod pins k8s.io/kubernetes $node_k8s, scripts/controlplane/go.mod $k8s_version: make them equal"
  node_dir="$cache/bin/$k8s_version-node"
  node_stamp=$(stamp_of "$node_mod")
  if cached "$node_dir" "$node_stamp" "${node_bins[@]}"; then
    log "kubelet, kube-controller-manager, kube-scheduler, pause $k8s_version: cached in $node_dir"
  else
    need_go "kubelet, kube-controller-manager and kube-scheduler"
    build_into "$node_dir" "$node_stamp" "kubelet+kube-controller-manager+kube-scheduler+pause $k8s_version" "$node_mod" "$(k8s_ldflags)" '' \
      k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler ./cmd/pause
  fi
fi

# ---- results ---------------------------------------------------------------
env_file="$cache/e2e-binaries.env"
{
  printf 'KUBE_APISERVER=%q\n' "$kube_apiserver"
  printf 'ETCD=%q\n' "$etcd"
  [ -n "$helm" ] && printf 'HELM=%q\n' "$helm"
  if [ -n "$node_dir" ]; then
    printf 'KUBELET=%q\nKUBE_CONTROLLER_MANAGER=%q\nKUBE_SCHEDULER=%q\nPAUSE=%q\n' \
      "$node_dir/kubelet" "$node_dir/kube-controller-manager" "$node_dir/kube-scheduler" "$node_dir/pause"
  fi
} >"$env_file.tmp"
mv -f "$env_file.tmp" "$env_file"
echo "KUBE_APISERVER=$kube_apiserver"
echo "ETCD=$etcd"
[ -n "$helm" ] && echo "HELM=$helm"
if [ -n "$node_dir" ]; then
  for b in "${node_bins[@]}"; do
    printf '%s=%s\n' "$(echo "$b" | tr 'a-z-' 'A-Z_')" "$node_dir/$b"
  done
fi
log "paths written to $env_file"
