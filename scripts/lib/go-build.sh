# Sourced by scripts/build-e2e-binaries.sh, scripts/build-istio-check.sh and scripts/build-atomic-writer.sh: the cache root,
# log lines, Go lookup, go.mod versions, source stamps, the build lock, and go build with a
# progress line every 30 s. Set log_tag (and recipe) before sourcing.
# shellcheck shell=bash disable=SC2154 # log_tag and recipe are the sourcing script's

# shellcheck disable=SC2034 # used by the sourcing script
cache="${EGRESS_MTLS_CACHE:-${HOME:-/root}/.cache/egress-mtls}"

log() { printf '[%s] %s\n' "$log_tag" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$log_tag" "$*" >&2; exit 1; }

# Module version of a dependency, read from a go.mod without running go.
modver() { # modver GOMOD MODULE
  awk -v m="$2" '
    $1 == m && $2 ~ /^v/ { print $2; exit }
    $1 == "require" && $2 == m { print $3; exit }
  ' "$1"
}

stamp_of() { # stamp_of MODULE_DIR: hash of what the build depends on (and of $recipe)
  { echo "recipe=$recipe"; (cd "$1" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum); } | sha256sum | cut -c1-16
}

cached() { # cached DIR STAMP BIN...: DIR holds every BIN, executable, built from the sources STAMP names
  local dir=$1 stamp=$2 b
  shift 2
  for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
  [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]
}

build_lock() { # build_lock FILE: one builder at a time per cache (a parallel run waits for the first build)
  exec 9>"$1"
  if command -v flock >/dev/null 2>&1; then
    flock -n 9 || { log "another build holds $1; waiting..."; flock 9; }
  fi
}

find_go() {
  if [ -n "${GO:-}" ]; then command -v "$GO" >/dev/null 2>&1 && { command -v "$GO"; return; }; return 1; fi
  if command -v go >/dev/null 2>&1; then command -v go; return; fi
  if [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go; return; fi
  return 1
}

go_bin=""
need_go() { # need_go WHAT: sets go_bin once, or dies saying how to get Go (and $go_alternative)
  [ -n "$go_bin" ] && return 0
  go_bin=$(find_go) || die "Go is needed to build $1 but was not found.
  Install Go >= 1.26 (e.g. the official release unpacked in /usr/local/go; or set GO=/path/to/go) with access to the Go module proxy${go_alternative:-.}"
  local v
  v=$("$go_bin" env GOVERSION 2>/dev/null || true)
  log "using $go_bin ($v)"
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# go_build LABEL MODULE_DIR OUT LDFLAGS PKG... : go build -o OUT (a file, or a directory
# ending in /) with a heartbeat. A change to its flags: bump recipe= in every build script that sources this file.
go_build() {
  local label=$1 moddir=$2 out=$3 ldflags=$4
  shift 4
  local vlog total start pid n rc=0
  vlog=$(mktemp)
  start=$(date +%s)
  log "$label: resolving packages (downloads modules on first use)..."
  total=$(cd "$moddir" && CGO_ENABLED=0 "$go_bin" list -deps "$@" 2>/dev/null | wc -l) || total='?'
  log "$label: compiling up to $total packages on $(nproc 2>/dev/null || echo '?') cores (cold: many minutes)..."
  (
    cd "$moddir" || exit
    exec env CGO_ENABLED=0 "$go_bin" build -v -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out" "$@"
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

# build_into DIR STAMP LABEL MODULE_DIR LDFLAGS NAME PKG... : go_build in a scratch directory
# inside DIR (NAME: the binary's name when it is not its package's, else ''), then moves
# the binaries into DIR and writes DIR/.stamp last (a failed build is never taken as cached).
build_into() {
  local dir=$1 stamp=$2 label=$3 moddir=$4 ldflags=$5 name=$6 f
  shift 6
  mkdir -p "$dir"
  tmp=$(mktemp -d "$dir/.build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  go_build "$label" "$moddir" "$tmp/$name" "$ldflags" "$@"
  for f in "$tmp"/*; do mv -f "$f" "$dir/"; done
  echo "$stamp" >"$dir/.stamp"
  rm -rf "$tmp"
  trap - EXIT
}
