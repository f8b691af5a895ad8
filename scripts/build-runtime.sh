#!/usr/bin/env bash
# Assembles the runtime tree of egress-mtls without a container engine: what the image's
# /app holds, and what the Dockerfile's build stage runs too.
#
#   scripts/build-runtime.sh TARGET_DIR
#
# TARGET_DIR (created; must be empty or absent) receives
#   dist/          the compiled program (`npm run build`, tsconfig.build.json)
#   node_modules/  production dependencies only (`npm ci --omit=dev` from package-lock.json)
#   bin/           the CLI entry point (bin/egress-mtls.js imports ../dist/cli/main.js)
#   package.json   ("type": "module" makes dist/*.js ES modules)
# Run it with Node 24: node TARGET_DIR/bin/egress-mtls.js --help
#
# The production node_modules is cached, keyed by the hash of package.json and
# package-lock.json, under ${EGRESS_MTLS_CACHE:-$HOME/.cache/egress-mtls}/runtime-deps/, so
# a warm run only compiles and copies. The repository's own dist/ is left untouched.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
log() { printf '[build-runtime] %s\n' "$*" >&2; }
die() { printf '[build-runtime] ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: scripts/build-runtime.sh TARGET_DIR"
mkdir -p "$1"
target=$(cd "$1" && pwd)
[ -z "$(ls -A "$target")" ] || die "$target is not empty"
cache="${EGRESS_MTLS_CACHE:-${HOME:-/root}/.cache/egress-mtls}/runtime-deps"

# 1. Production dependencies, once per lockfile.
key=$(cat "$repo/package.json" "$repo/package-lock.json" | sha256sum | cut -c1-16)
deps="$cache/$key"
if [ -d "$deps/node_modules" ]; then
  log "production node_modules: cached in $deps"
else
  log "production node_modules: npm ci --omit=dev into $deps"
  mkdir -p "$cache"
  stage=$(mktemp -d "$cache/.stage.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  cp "$repo/package.json" "$repo/package-lock.json" "$stage/"
  # No install scripts: the production dependencies are plain JavaScript.
  (cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  rm -f "$stage/package.json" "$stage/package-lock.json"
  # Another run may have finished first; either copy is the same.
  mv -T "$stage" "$deps" 2>/dev/null || rm -rf "$stage"
  trap - EXIT
fi

# 2. The program, compiled straight into the tree.
log "compiling into $target/dist"
(cd "$repo" && npm run --silent build -- --outDir "$target/dist" >&2)

# 3. The rest.
# Hard links where the cache and the target share a file system (fast), else a copy.
cp -al "$deps/node_modules" "$target/node_modules" 2>/dev/null \
  || { rm -rf "$target/node_modules"; cp -R "$deps/node_modules" "$target/node_modules"; }
mkdir -p "$target/bin"
cp "$repo/bin/egress-mtls.js" "$target/bin/"
cp "$repo/package.json" "$target/"
log "runtime tree ready: $target ($(du -sh "$target" | cut -f1))"
