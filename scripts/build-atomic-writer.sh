#!/usr/bin/env bash
# Builds (or finds) atomic-writer, kubelet's own code that publishes a Secret volume, for
# the rotation proof of the Istio test tier (test/istio/rotation.test.ts): a tiny program
# (module scripts/atomic-writer) on k8s.io/kubernetes pkg/volume/secret and pkg/volume/util,
# at the version scripts/controlplane pins. Cached outside the repository, keyed by version:
#
#   ${EGRESS_MTLS_CACHE:-$HOME/.cache/egress-mtls}/bin/<k8s-version>-atomic-writer/atomic-writer
#
# A binary that is already there (with a stamp matching the module's go.mod, go.sum and
# sources) is reused, so a warm run takes well under a second. A cold build compiles about
# 790 packages (20 minutes on 2 cores shared with other builds), 788 of them kube-apiserver's
# too (same versions and flags): after scripts/build-e2e-binaries.sh, Go's build cache holds
# them and the build takes seconds.
#
# Output: progress on stderr; on stdout one line
#   ATOMIC_WRITER=/abs/path
# and the same line (shell-quoted, sourceable) in $CACHE/atomic-writer.env.
#
# Environment: EGRESS_MTLS_CACHE (cache root), GO (the go command, default: go on
# PATH, else /usr/local/go/bin/go).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/atomic-writer"
# Bump when the build recipe below (flags, ldflags) changes, to rebuild cached binaries.
recipe=1
log_tag=atomic-writer
# shellcheck source=scripts/lib/go-build.sh
. "$here/lib/go-build.sh"

k8s_version=$(modver "$mod/go.mod" k8s.io/kubernetes)
[ -n "$k8s_version" ] || die "cannot read the k8s.io/kubernetes version from $mod/go.mod"
cp_version=$(modver "$here/controlplane/go.mod" k8s.io/kubernetes)
[ "$k8s_version" = "$cp_version" ] \
  || die "scripts/atomic-writer/go.mod pins k8s.io/kubernetes $k8s_version, scripts/controlplane/go.mod $cp_version: make them equal"
stamp=$(stamp_of "$mod")

dir="$cache/bin/$k8s_version-atomic-writer"
bin="$dir/atomic-writer"
mkdir -p "$dir"
build_lock "$cache/.build-atomic-writer.lock"

if cached "$dir" "$stamp" atomic-writer; then
  log "atomic-writer (k8s.io/kubernetes $k8s_version): cached in $dir"
else
  need_go atomic-writer
  # The module is egress-mtls/atomic-writer: name the binary.
  build_into "$dir" "$stamp" "atomic-writer (k8s.io/kubernetes $k8s_version)" "$mod" '-s -w' atomic-writer .
fi

printf 'ATOMIC_WRITER=%q\n' "$bin" >"$cache/atomic-writer.env.tmp"
mv -f "$cache/atomic-writer.env.tmp" "$cache/atomic-writer.env"
echo "ATOMIC_WRITER=$bin"
