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
# Bump when the build recipe below (flags, ldflags) changes, to rebuild cached binaries.
recipe=1
log_tag=istio-check
# shellcheck source=scripts/lib/go-build.sh
. "$here/lib/go-build.sh"

istio_version=$(modver "$mod/go.mod" istio.io/istio)
[ -n "$istio_version" ] || die "cannot read the istio.io/istio version from $mod/go.mod"
stamp=$(stamp_of "$mod")

dir="$cache/bin/istio-$istio_version"
bin="$dir/istio-check"
mkdir -p "$dir"
build_lock "$cache/.build-istio.lock"

if cached "$dir" "$stamp" istio-check; then
  log "istio-check (istio.io/istio $istio_version): cached in $dir"
else
  need_go istio-check
  # The module is egress-mtls/istio: name the binary.
  build_into "$dir" "$stamp" "istio-check (istio.io/istio $istio_version)" "$mod" '-s -w' istio-check .
fi

printf 'ISTIO_CHECK=%q\n' "$bin" >"$cache/istio-check.env.tmp"
mv -f "$cache/istio-check.env.tmp" "$cache/istio-check.env"
echo "ISTIO_CHECK=$bin"
