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
cache="${EGRESS_MTLS_CACHE:-${HOME:-/root}/.cache/egress-mtls}"

log() { printf '[e2e-binaries] %s\n' "$*" >&2; }
die() { printf '[e2e-binaries] ERROR: %s\n' "$*" >&2; exit 1; }

# Module version of a dependency, read from a go.mod without running go.
modver() { # modver GOMOD MODULE
  awk -v m="$2" '
    $1 == m && $2 ~ /^v/ { print $2; exit }
    $1 == "require" && $2 == m { print $3; exit }
  ' "$1"
}

k8s_version=$(modver "$cp_mod/go.mod" k8s.io/kubernetes)
helm_version=$(modver "$helm_mod/go.mod" helm.sh/helm/v3)
[ -n "$k8s_version" ] || die "cannot read the k8s.io/kubernetes version from $cp_mod/go.mod"
[ -n "$helm_version" ] || die "cannot read the helm.sh/helm/v3 version from $helm_mod/go.mod"

# Bump when the build recipe below (flags, ldflags) changes, to rebuild cached binaries.
recipe=2

stamp_of() { # stamp_of MODULE_DIR: hash of what the build depends on
  { echo "recipe=$recipe"; (cd "$1" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum); } | sha256sum | cut -c1-16
}

find_go() {
  if [ -n "${GO:-}" ]; then command -v "$GO" >/dev/null 2>&1 && { command -v "$GO"; return; }; return 1; fi
  if command -v go >/dev/null 2>&1; then command -v go; return; fi
  if [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go; return; fi
  return 1
}

go_bin=""
need_go() { # need_go WHAT
  [ -n "$go_bin" ] && return 0
  go_bin=$(find_go) || die "Go is needed to build $1 but was not found.
  Install Go >= 1.26 (e.g. the official release unpacked in /usr/local/go; or set GO=/path/to/go) with access to the Go module proxy,
  or, for kube-apiserver and etcd only, point KUBEBUILDER_ASSETS at envtest's binaries
  (e.g. KUBEBUILDER_ASSETS=\$(setup-envtest use -p path 1.34.x))."
  local v
  v=$("$go_bin" env GOVERSION 2>/dev/null || true)
  log "using $go_bin ($v)"
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# go_build LABEL MODULE_DIR OUTDIR LDFLAGS PKG... : builds into OUTDIR with a heartbeat.
go_build() {
  local label=$1 moddir=$2 outdir=$3 ldflags=$4
  shift 4
  local vlog total start pid n rc=0
  vlog=$(mktemp)
  start=$(date +%s)
  log "$label: resolving packages (downloads modules on first use)..."
  total=$(cd "$moddir" && CGO_ENABLED=0 "$go_bin" list -deps "$@" 2>/dev/null | wc -l) || total='?'
  log "$label: compiling up to $total packages on $(nproc 2>/dev/null || echo '?') cores (cold: many minutes)..."
  (
    cd "$moddir"
    exec env CGO_ENABLED=0 "$go_bin" build -v -trimpath -buildvcs=false -ldflags "$ldflags" -o "$outdir/" "$@"
  ) >"$vlog" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 1 30); do
      sleep 1
      kill -0 "$pid" 2>/dev/null || break
    done
    if kill -0 "$pid" 2>/dev/null; then
      n=$(grep -c . "$vlog" || true)
      log "$label: $(fmt_secs $(($(date +%s) - start))) elapsed, $n/$total packages compiled"
    fi
  done
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    grep -v '^[a-zA-Z0-9._/~-]*$' "$vlog" | tail -n 40 >&2 || true
    rm -f "$vlog"
    die "$label: go build failed (exit $rc)"
  fi
  rm -f "$vlog"
  log "$label: built in $(fmt_secs $(($(date +%s) - start)))"
}

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
# One builder at a time per cache (parallel test runs wait for the first build).
exec 9>"$cache/.build.lock"
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || { log "another build holds $cache/.build.lock; waiting..."; flock 9; }
fi

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
  if [ -x "$kube_apiserver" ] && [ -x "$etcd" ] && [ "$(cat "$cp_dir/.stamp" 2>/dev/null)" = "$cp_stamp" ]; then
    log "kube-apiserver, etcd $k8s_version: cached in $cp_dir"
  else
    need_go "kube-apiserver and etcd"
    mkdir -p "$cp_dir"
    tmp=$(mktemp -d "$cp_dir/.build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    go_build "kube-apiserver+etcd $k8s_version" "$cp_mod" "$tmp" "$(k8s_ldflags)" \
      k8s.io/kubernetes/cmd/kube-apiserver ./cmd/etcd
    mv -f "$tmp/kube-apiserver" "$kube_apiserver"
    mv -f "$tmp/etcd" "$etcd"
    echo "$cp_stamp" >"$cp_dir/.stamp"
    rm -rf "$tmp"
    trap - EXIT
  fi
fi

# ---- helm ------------------------------------------------------------------
helm=""
if [ "${E2E_SKIP_HELM:-}" != 1 ]; then
  helm_dir="$cache/bin/helm-$helm_version"
  helm="$helm_dir/helm"
  helm_stamp=$(stamp_of "$helm_mod")
  if [ -x "$helm" ] && [ "$(cat "$helm_dir/.stamp" 2>/dev/null)" = "$helm_stamp" ]; then
    log "helm $helm_version: cached in $helm_dir"
  else
    need_go "helm"
    mkdir -p "$helm_dir"
    tmp=$(mktemp -d "$helm_dir/.build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
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
    go_build "helm $helm_version" "$helm_mod" "$tmp" "$ld" helm.sh/helm/v3/cmd/helm
    mv -f "$tmp/helm" "$helm"
    echo "$helm_stamp" >"$helm_dir/.stamp"
    rm -rf "$tmp"
    trap - EXIT
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
  have=1
  for b in "${node_bins[@]}"; do [ -x "$node_dir/$b" ] || have=0; done
  if [ "$have" = 1 ] && [ "$(cat "$node_dir/.stamp" 2>/dev/null)" = "$node_stamp" ]; then
    log "kubelet, kube-controller-manager, kube-scheduler, pause $k8s_version: cached in $node_dir"
  else
    need_go "kubelet, kube-controller-manager and kube-scheduler"
    mkdir -p "$node_dir"
    tmp=$(mktemp -d "$node_dir/.build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    go_build "kubelet+kube-controller-manager+kube-scheduler+pause $k8s_version" "$node_mod" "$tmp" "$(k8s_ldflags)" \
      k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler ./cmd/pause
    for b in "${node_bins[@]}"; do mv -f "$tmp/$b" "$node_dir/$b"; done
    echo "$node_stamp" >"$node_dir/.stamp"
    rm -rf "$tmp"
    trap - EXIT
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
