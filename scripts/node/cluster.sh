#!/usr/bin/env bash
# A real single-node Kubernetes without a container engine, for the node test tier
# (test/node): etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# containerd (Debian's, with runc and the CNI plugins), all inside a network namespace of
# its own, so that no traffic leaves it. Needs root.
#
#   scripts/node/cluster.sh up DIR NAME [IMAGE.oci.tar...]
#   scripts/node/cluster.sh down DIR NAME
#
# DIR (created, empty) holds every file of the run on a tmpfs mounted there: PKI, etcd,
# containerd, kubelet, logs/, pids.
# NAME names the run's network namespace, node, kubelet cgroup root and CNI network; use a
# fresh one per run (test/node uses em-<8 hex>). `up` prints progress on stderr, imports each
# IMAGE (an OCI archive whose ref.name is the tag; the egress-mtls image from
# scripts/build-image.sh is imported as docker.io/library/egress-mtls:<tag>, which the
# chart's default image.repository names) and writes DIR/kubeconfig: the admin
# (system:masters), reached from the host on 127.0.0.1 through a forwarder (the API server
# listens only in the namespace). `down` stops all of it by recorded PID, kills what is left
# in the run's cgroups, unmounts everything under DIR, removes the cgroups and the namespace,
# and removes DIR (EGRESS_MTLS_NODE_KEEP=1 copies DIR/logs to DIR.logs first). `down` is idempotent and safe
# after a failed `up`.
#
# Binaries: KUBE_APISERVER, ETCD, KUBELET, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, PAUSE from
# the environment if KUBELET is set, else from ${EGRESS_MTLS_CACHE:-$HOME/.cache/egress-mtls}/e2e-binaries.env;
# `E2E_NODE=1 scripts/build-e2e-binaries.sh` prints and writes both. Host tools: containerd, ctr, runc, the CNI
# plugins in /usr/lib/cni, umoci, openssl, curl, ip, nsenter, bc (.ci/run installs them).
#
# Inside the namespace: the node is 10.250.0.1; the "kubernetes" Service address 10.0.0.1 is
# a local address too and the API server listens on 443, so pods reach it without kube-proxy;
# pods get 10.244.0.0/24 from the bridge plugin. There is no DNS and no kube-proxy: the API
# server dials webhook pods by endpoint IP (--enable-aggregator-routing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
log() { printf '[node] %s\n' "$*" >&2; }
die() { printf '[node] ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: scripts/node/cluster.sh up|down DIR NAME [IMAGE.oci.tar...]"
cmd=$1 name=$3
mkdir -p "$2"
dir=$(cd "$2" && pwd)
shift 3
case "$name" in ([a-z]*) ;; (*) die "NAME must start with a lowercase letter: $name" ;; esac
[ "${#name}" -le 15 ] || die "NAME must have at most 15 characters: $name"
[ "$(id -u)" = 0 ] || die "the node tier needs root (network namespace, mounts, cgroups)"

ip_node=10.250.0.1
ns_path=/var/run/netns/$name
NS=(nsenter "--net=$ns_path")   # not `ip netns exec`: it remounts /sys and hides the cgroups
ctr_() { ctr -a "$dir/containerd.sock" -n k8s.io "$@"; }
t0=$(date +%s.%N)
el() { printf '%.1fs' "$(echo "$(date +%s.%N) - $t0" | bc)"; }

# ---------------------------------------------------------------------------- down
stop_pids() { # stop_pids NAME...: SIGTERM them all, SIGKILL what still runs 1 s later
  local n f p pids=() i alive
  for n in "$@"; do
    f="$dir/run/$n.pid"
    [ -f "$f" ] || continue
    p=$(cat "$f")
    kill "$p" 2>/dev/null && pids+=("$p")
    rm -f "$f"
  done
  [ "${#pids[@]}" -gt 0 ] || return 0
  for i in $(seq 10); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 1 ] || break
    sleep 0.1
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
}

sweep() { # whatever still names DIR in its command line (a shim that started while the node stopped, so no pid file named it yet): SIGKILL, until none is left
  local i p args left=()
  for i in $(seq 30); do
    left=()
    for p in /proc/[0-9]*; do
      case "${p#/proc/}" in ("$$" | "$BASHPID" | "$PPID") continue ;; esac
      # Builtins only: a subshell here would name DIR itself.
      mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
      case "${args[*]}" in (*"$dir"*) left+=("${p#/proc/}") ;; esac
    done
    [ "${#left[@]}" -gt 0 ] || return 0
    [ "$i" = 1 ] && log "killing what still names $dir: ${left[*]}"
    kill -9 "${left[@]}" 2>/dev/null || true
    sleep 0.1
  done
  log "warning: processes naming $dir are left: ${left[*]}"
}

down() {
  log "stopping $name ($dir)"
  local c m f
  stop_pids kubelet kube-scheduler kube-controller-manager
  # Whatever still runs in the run's cgroups (containers, shims' children): SIGKILL.
  for c in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
    [ -d "$c" ] || continue
    find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | xargs -r kill -9 2>/dev/null || true
  done
  # containerd-shim processes outlive containerd by design: by their pid files.
  for f in "$dir"/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [ -f "$f" ] && { kill -9 "$(cat "$f")" 2>/dev/null || true; }
  done
  stop_pids containerd forward-host forward-ns kube-apiserver etcd
  sweep
  log "$name: processes stopped at $(el)"
  # Mounts under DIR (secret tmpfs, overlay rootfs, shm, pod netns): deepest first.
  awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  log "$name: unmounted at $(el)"
  # The kubelet's cgroup root (every v1 controller and the unified hierarchy).
  for c in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
    [ -d "$c" ] || continue
    for _ in 1 2 3 4 5; do
      find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$c" ] || break
      sleep 0.2
    done
    [ -d "$c" ] && log "warning: cgroup $c is still there"
  done
  log "$name: cgroups removed at $(el)"
  [ -e "$ns_path" ] && { ip netns del "$name" 2>/dev/null || log "warning: cannot delete netns $name"; }
  log "$name: network namespace removed at $(el)"
  if [ "${EGRESS_MTLS_NODE_KEEP:-}" = 1 ] && [ -d "$dir/logs" ]; then
    rm -rf "$dir.logs" && cp -r "$dir/logs" "$dir.logs" && log "logs kept in $dir.logs"
  fi
  # DIR is a tmpfs (see up): unmounting it frees everything at once.
  if mountpoint -q "$dir"; then umount "$dir" 2>/dev/null || umount -l "$dir" || true; fi
  rm -rf "$dir" 2>/dev/null || log "warning: cannot remove $dir"
  log "stopped in $(el)"
}

# ------------------------------------------------------------------------------ up
start() { # start NAME CMD...: a daemon in the namespace, its output in logs/NAME.log
  local n=$1
  shift
  setsid "${NS[@]}" "$@" </dev/null >"$dir/logs/$n.log" 2>&1 &
  echo $! >"$dir/run/$n.pid"
}

check_alive() { # check_alive NAME...: die with the log's tail if one has exited
  local n
  for n in "$@"; do
    kill -0 "$(cat "$dir/run/$n.pid")" 2>/dev/null && continue
    tail -n 30 "$dir/logs/$n.log" >&2 || true
    die "$n exited (log: $dir/logs/$n.log)"
  done
}

pki() {
  local P=$dir/pki
  mkdir -p "$P"
  (
    cd "$P"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key
    openssl req -x509 -new -key ca.key -subj "/CN=egress-mtls-node-$name" -days 2 -out ca.crt 2>/dev/null
    cert() { # cert NAME SUBJECT EXTENSIONS
      openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    cert apiserver /CN=kube-apiserver "subjectAltName=IP:$ip_node,IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
    cert kubelet-serving "/CN=$name" "subjectAltName=IP:$ip_node,DNS:$name
extendedKeyUsage=serverAuth"
    cert admin "/O=system:masters/CN=egress-mtls-node-admin" "extendedKeyUsage=clientAuth"
    cert node "/O=system:nodes/CN=system:node:$name" "extendedKeyUsage=clientAuth"
    cert kcm /CN=system:kube-controller-manager "extendedKeyUsage=clientAuth"
    cert sched /CN=system:kube-scheduler "extendedKeyUsage=clientAuth"
    openssl ecparam -name prime256v1 -genkey -noout -out sa.key
    openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  kubeconfig() { # kubeconfig FILE SERVER CERT
    cat >"$1" <<K
apiVersion: v1
kind: Config
clusters: [{name: $name, cluster: {server: "$2", certificate-authority: $P/ca.crt}}]
users: [{name: u, user: {client-certificate: $P/$3.crt, client-key: $P/$3.key}}]
contexts: [{name: $name, context: {cluster: $name, user: u}}]
current-context: $name
K
  }
  kubeconfig "$P/admin-ns.kubeconfig" "https://$ip_node:443" admin
  kubeconfig "$P/kubelet.kubeconfig" "https://$ip_node:443" node
  kubeconfig "$P/kcm.kubeconfig" "https://$ip_node:443" kcm
  kubeconfig "$P/sched.kubeconfig" "https://$ip_node:443" sched
}

containerd_config() {
  mkdir -p "$dir/containerd" "$dir/cni/net.d"
  cat >"$dir/containerd/config.toml" <<T
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "egress-mtls.test/pause:1"
  # Without CAP_SYS_RESOURCE (some VMs and CI sandboxes) runc cannot give the sandbox its
  # negative oom_score_adj; keep scores >= the runtime's own.
  restrict_oom_score_adj = true
  # pod network namespaces under DIR, not /var/run/netns
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
T
  cat >"$dir/cni/net.d/10-$name.conflist" <<T
{"cniVersion": "0.4.0", "name": "$name", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$dir/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
T
}

kubelet_config() {
  local P=$dir/pki
  mkdir -p "$dir/kubelet" "$dir/pod-logs"
  cat >"$dir/kubelet-config.yaml" <<Y
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$dir/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$name
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
failCgroupV1: false
address: $ip_node
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $P/kubelet-serving.crt
tlsPrivateKeyFile: $P/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
resolvConf: ""
podLogsDirectory: $dir/pod-logs
rotateCertificates: false
serverTLSBootstrap: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
syncFrequency: 5s
fileCheckFrequency: 10s
nodeStatusReportFrequency: 10s
Y
}

pause_image() { # an OCI archive of $PAUSE, the sandbox image
  local w=$dir/pause-build
  mkdir -p "$w/rootfs"
  cp "$PAUSE" "$w/rootfs/pause"
  umoci init --layout "$w/layout" >/dev/null
  umoci new --image "$w/layout:1" >/dev/null
  umoci config --image "$w/layout:1" --architecture amd64 --os linux --config.entrypoint /pause \
    --config.user 65535:65535 >/dev/null
  umoci insert --image "$w/layout:1" "$w/rootfs" / >/dev/null
  tar -cf "$dir/pause.oci.tar" -C "$w/layout" oci-layout index.json blobs
  rm -rf "$w"
}

wait_for() { # wait_for WHAT SECONDS CMD...
  local what=$1 secs=$2 i
  shift 2
  for i in $(seq $((secs * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "$what not ready after ${secs}s"
}

api_get() { # api_get PATH: GET on the API server as the admin, from inside the namespace
  "${NS[@]}" curl -sSf --max-time 5 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" \
    --key "$dir/pki/admin.key" "https://$ip_node$1"
}

up() {
  local env_file="${EGRESS_MTLS_CACHE:-${HOME:-/root}/.cache/egress-mtls}/e2e-binaries.env" b t
  if [ -z "${KUBELET:-}" ]; then   # the environment names them (test/node does), else the cache's file
    [ -f "$env_file" ] || die "$env_file not found: run E2E_NODE=1 scripts/build-e2e-binaries.sh"
    # shellcheck disable=SC1090
    . "$env_file"
  fi
  for b in KUBE_APISERVER ETCD KUBELET KUBE_CONTROLLER_MANAGER KUBE_SCHEDULER PAUSE; do
    [ -x "${!b:-}" ] || die "$b not built: run E2E_NODE=1 scripts/build-e2e-binaries.sh"
  done
  for t in containerd ctr runc umoci openssl curl ip nsenter setsid bc; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (.ci/run installs containerd, runc, containernetworking-plugins, umoci)"
  done
  [ -x /usr/lib/cni/bridge ] || die "/usr/lib/cni/bridge not found (Debian: apt-get install containernetworking-plugins)"
  [ ! -e "$ns_path" ] || die "network namespace $name exists already: pick another NAME"
  [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
  started=1   # from here on, a failure runs `down`
  # Every file of the run in memory: faster on a busy disk, and `down` frees it with one umount.
  mount -t tmpfs -o size=4g,mode=0700 "tmpfs-$name" "$dir"
  mkdir -p "$dir/logs" "$dir/run"

  log "$name: network namespace, PKI"
  ip netns add "$name"
  ip -n "$name" link set lo up
  # A veth pair with both ends inside (some kernels have no dummy driver).
  ip -n "$name" link add node0 type veth peer name node0p
  ip -n "$name" addr add "$ip_node/24" dev node0
  ip -n "$name" addr add 10.0.0.1/32 dev node0
  ip -n "$name" link set node0p up
  ip -n "$name" link set node0 up
  # The kubelet wants a default route; it leads nowhere beyond the namespace.
  ip -n "$name" route add default dev node0
  pki
  containerd_config
  kubelet_config
  local P=$dir/pki

  log "$name: etcd, kube-apiserver, containerd"
  start etcd "$ETCD" --name=default --data-dir="$dir/etcd" --listen-client-urls=http://127.0.0.1:2379 \
    --advertise-client-urls=http://127.0.0.1:2379 --listen-peer-urls=http://127.0.0.1:2380 \
    --initial-advertise-peer-urls=http://127.0.0.1:2380 --initial-cluster=default=http://127.0.0.1:2380 \
    --unsafe-no-fsync=true --log-level=warn
  start kube-apiserver "$KUBE_APISERVER" --advertise-address="$ip_node" --bind-address=0.0.0.0 --secure-port=443 \
    --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
    --etcd-servers=http://127.0.0.1:2379 --client-ca-file="$P/ca.crt" --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$P/sa.pub" \
    --service-account-signing-key-file="$P/sa.key" --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
    --enable-aggregator-routing=true --enable-admission-plugins=NodeRestriction \
    --kubelet-client-certificate="$P/admin.crt" --kubelet-client-key="$P/admin.key" \
    --kubelet-certificate-authority="$P/ca.crt" --kubelet-preferred-address-types=InternalIP
  start containerd containerd --config "$dir/containerd/config.toml"
  # Host access: 127.0.0.1:PORT -> DIR/api.sock -> 10.250.0.1:443 (TLS passes through).
  start forward-ns "$NODE" "$here/forward.ts" "unix:$dir/api.sock" "tcp:$ip_node:443"
  setsid "$NODE" "$here/forward.ts" "tcp:127.0.0.1:0" "unix:$dir/api.sock" "$dir/run/api.port" \
    </dev/null >"$dir/logs/forward-host.log" 2>&1 &
  echo $! >"$dir/run/forward-host.pid"
  pause_image
  wait_for containerd 30 test -S "$dir/containerd.sock"
  check_alive containerd
  ctr_ images import --base-name egress-mtls.test/pause "$dir/pause.oci.tar" >/dev/null
  local img tag
  for img in "$@"; do
    ctr_ images import --base-name docker.io/library/egress-mtls "$img" >/dev/null || die "ctr images import $img failed"
  done
  log "$name: images: $(ctr_ images ls -q | grep -v '^sha256:' | tr '\n' ' ')"

  wait_for kube-apiserver 120 api_get /readyz
  check_alive etcd kube-apiserver
  log "$name: API server ready at $(el)"
  start kube-controller-manager "$KUBE_CONTROLLER_MANAGER" --kubeconfig="$P/kcm.kubeconfig" \
    --authentication-kubeconfig="$P/kcm.kubeconfig" --authorization-kubeconfig="$P/kcm.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
    --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" --use-service-account-credentials=true \
    --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
    --controllers='*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller' --v=1
  start kube-scheduler "$KUBE_SCHEDULER" --kubeconfig="$P/sched.kubeconfig" \
    --authentication-kubeconfig="$P/sched.kubeconfig" --authorization-kubeconfig="$P/sched.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --v=1
  # The kubelet's cgroup root, named per run (kubepods and the pods go below it); it must exist.
  local c
  for c in /sys/fs/cgroup/*/; do
    [ -e "$c/cgroup.procs" ] || continue
    mkdir -p "$c$name"
    if [ -e "$c/cpuset.cpus" ]; then   # cgroup v1 cpuset starts empty: inherit the root's
      cat "$c/cpuset.cpus" >"$c$name/cpuset.cpus"
      cat "$c/cpuset.mems" >"$c$name/cpuset.mems"
    fi
  done
  [ -e /sys/fs/cgroup/cgroup.controllers ] && mkdir -p "/sys/fs/cgroup/$name"   # cgroup v2 only
  start kubelet "$KUBELET" --config="$dir/kubelet-config.yaml" --kubeconfig="$P/kubelet.kubeconfig" \
    --root-dir="$dir/kubelet" --node-ip="$ip_node" --hostname-override="$name" --v=1
  node_ready() {
    api_get "/api/v1/nodes/$name" | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'
  }
  wait_for "node $name" 120 node_ready
  check_alive kube-controller-manager kube-scheduler kubelet containerd
  log "$name: node Ready at $(el)"
  # kube-controller-manager creates the default ServiceAccounts; pods need them.
  wait_for "ServiceAccount default" 60 api_get /api/v1/namespaces/default/serviceaccounts/default
  wait_for "forwarder" 10 test -s "$dir/run/api.port"
  sed "s#https://$ip_node:443#https://127.0.0.1:$(cat "$dir/run/api.port")#" "$P/admin-ns.kubeconfig" >"$dir/kubeconfig"
  log "$name: up in $(el): KUBECONFIG=$dir/kubeconfig"
}

NODE="$repo/node_modules/node/bin/node"
case "$cmd" in
  up)
    [ -x "$NODE" ] || die "$NODE not found: run npm ci"
    started=0
    trap 'rc=$?; [ $rc = 0 ] || [ "$started" = 0 ] || { log "up failed; cleaning up"; down; }; exit $rc' EXIT
    up "$@"
    trap - EXIT
    ;;
  down) down ;;
  *) die "usage: scripts/node/cluster.sh up|down DIR NAME [IMAGE.oci.tar...]" ;;
esac
