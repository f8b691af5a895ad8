#!/usr/bin/env bash
# Builds (or finds) istio-check, the checker of the Istio test tier (test/istio):
# a small program (module scripts/istio) that runs Istio's own validation, sidecar
# injection and Envoy configuration generation code from the istio.io/istio module
# pinned in scripts/istio/go.mod. Cached outside the repository, keyed by version:
#
#   ${EGRESS_MTLS_CACHE:-$HOME/.cache/egress-mtls}/bin/istio-<module-version>/istio-check
#
# A binary that is already there (with a stamp matching the module's go.mod, go.sum
# and sources) is reused, so a warm run takes well under a second. A cold build
# compiles about 1,700 packages (several minutes on 2 cores).
#
# Output: progress on stderr; on stdout one line
#   ISTIO_CHECK=/abs/path
# and the same line (shell-quoted, sourceable) in $CACHE/istio-check.env.
#
# Environment: EGRESS_MTLS_CACHE (cache root), GO (the go command, default: go on
# PATH, else /usr/local/go/bin/go).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/istio"
cache="${EGRESS_MTLS_CACHE:-${HOME:-/root}/.cache/egress-mtls}"

log() { printf '[istio-check] %s\n' "$*" >&2; }
die() { printf '[istio-check] ERROR: %s\n' "$*" >&2; exit 1; }

# Module version of a dependency, read from go.mod without running go.
modver() { # modver GOMOD MODULE
  awk -v m="$2" '
    $1 == m && $2 ~ /^v/ { print $2; exit }
    $1 == "require" && $2 == m { print $3; exit }
  ' "$1"
}

istio_version=$(modver "$mod/go.mod" istio.io/istio)
[ -n "$istio_version" ] || die "cannot read the istio.io/istio version from $mod/go.mod"

# Bump when the build recipe below (flags, ldflags) changes, to rebuild cached binaries.
recipe=1

stamp=$({ echo "recipe=$recipe"; (cd "$mod" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum); } | sha256sum | cut -c1-16)

find_go() {
  if [ -n "${GO:-}" ]; then command -v "$GO" >/dev/null 2>&1 && { command -v "$GO"; return; }; return 1; fi
  if command -v go >/dev/null 2>&1; then command -v go; return; fi
  if [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go; return; fi
  return 1
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

dir="$cache/bin/istio-$istio_version"
bin="$dir/istio-check"
mkdir -p "$dir"
# One builder at a time per cache (test files of the tier start in parallel and wait for one build).
exec 9>"$cache/.build-istio.lock"
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || { log "another build holds $cache/.build-istio.lock; waiting..."; flock 9; }
fi

if [ -x "$bin" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
  log "istio-check (istio.io/istio $istio_version): cached in $dir"
else
  go_bin=$(find_go) || die "Go is needed to build istio-check but was not found.
  Install Go >= 1.26 (e.g. the official release unpacked in /usr/local/go; or set GO=/path/to/go) with access to the Go module proxy."
  log "using $go_bin ($("$go_bin" env GOVERSION 2>/dev/null || true))"
  tmp=$(mktemp -d "$dir/.build.XXXXXX")
  vlog="$tmp/build.log"
  trap 'rm -rf "$tmp"' EXIT
  start=$(date +%s)
  label="istio-check (istio.io/istio $istio_version)"
  log "$label: resolving packages (downloads modules on first use)..."
  total=$(cd "$mod" && CGO_ENABLED=0 "$go_bin" list -deps . 2>/dev/null | wc -l) || total='?'
  log "$label: compiling up to $total packages on $(nproc 2>/dev/null || echo '?') cores (cold: many minutes)..."
  (
    cd "$mod"
    exec env CGO_ENABLED=0 "$go_bin" build -v -trimpath -buildvcs=false -ldflags '-s -w' -o "$tmp/istio-check" .
  ) >"$vlog" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 1 30); do
      sleep 1
      kill -0 "$pid" 2>/dev/null || break
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$label: $(fmt_secs $(($(date +%s) - start))) elapsed, $(grep -c . "$vlog" || true)/$total packages compiled"
    fi
  done
  rc=0
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    grep -v '^[a-zA-Z0-9._/~-]*$' "$vlog" | tail -n 40 >&2 || true
    die "$label: go build failed (exit $rc)"
  fi
  mv -f "$tmp/istio-check" "$bin"
  echo "$stamp" >"$dir/.stamp"
  log "$label: built in $(fmt_secs $(($(date +%s) - start)))"
fi

printf 'ISTIO_CHECK=%q\n' "$bin" >"$cache/istio-check.env.tmp"
mv -f "$cache/istio-check.env.tmp" "$cache/istio-check.env"
echo "ISTIO_CHECK=$bin"
