#!/usr/bin/env bash
# A multi-node cluster on one machine: one network namespace per machine, joined by a
# bridge as Vagrant's host-only network joins VMs (docs/lab.md has the picture).
#
#   hack/lab.sh [--prefix P] COMMAND ...      (P: lab by default; several labs can coexist)
#   hack/lab.sh up [--nodes N] [--api-port PORT] [--bin-dir DIR]
#                  [--node-monitor-grace-period D]
#   hack/lab.sh status | down
#   hack/lab.sh kill-node NAME                the node's kubelet and kube-proxy die (SIGKILL)
#   hack/lab.sh partition NAME                unplug the machine's cable (its switch port goes down)
#   hack/lab.sh heal NAME                     plug it back, restart whatever of it is not running
#   hack/lab.sh kubectl ARGS...               the real kubectl, pointed at the lab's apiserver
#   hack/lab.sh in NAME CMD...                run CMD inside machine NAME (cp, node1, ...)
#   hack/lab.sh in-pod POD CMD...             run CMD (a program of this machine) in POD's network
#
# Machines: `cp` (192.168.56.10: etcd, the image registry, kube-apiserver,
# kube-controller-manager, kube-scheduler) and `node1`..`nodeN` (192.168.56.11...:
# containerd, kubelet, kube-proxy, each with its own root, state and socket). Their command
# lines come from vagrant/components.sh, the script that provisions the Vagrant VMs: the
# lab runs them inside the namespaces instead of as systemd units. Pod CIDRs come from the
# controller-manager (--allocate-node-cidrs); every machine routes each other node's pod
# CIDR via that node's address (host-gw). No namespace has a default route: nothing leaves
# the machine. The host's kubectl reaches the apiserver through a loopback relay (socat):
# 127.0.0.1:PORT on the host is 127.0.0.1:8080 in `cp`.
#
# State (pids, logs, data) is under _output/lab/PREFIX/; everything is idempotent. Without
# --bin-dir the binaries are built in release mode first.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib/node-cleanup.sh source-path=SCRIPTDIR
. "$ROOT/hack/lib/node-cleanup.sh"

cmd=
PREFIX=${LAB_PREFIX:-lab}
NODES=2
API_PORT=8080
BIN_DIR=
GRACE=${NODE_MONITOR_GRACE_PERIOD:-40s}
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=${2:?--nodes N}; shift 2 ;;
    --prefix) PREFIX=${2:?--prefix P}; shift 2 ;;
    --api-port) API_PORT=${2:?--api-port PORT}; shift 2 ;;
    --bin-dir) BIN_DIR=$(realpath "${2:?--bin-dir DIR}"); shift 2 ;;
    --node-monitor-grace-period) GRACE=${2:?--node-monitor-grace-period D}; shift 2 ;;
    *)
      if [ -z "$cmd" ]; then
        cmd=$1
        # What follows these commands is another program's command line: not ours to parse.
        case "$cmd" in kubectl|in|in-pod) shift; args=("$@"); break ;; esac
      else
        args+=("$1")
      fi
      shift
      ;;
  esac
done
cmd=${cmd:-help}
[[ $PREFIX =~ ^[a-z0-9][a-z0-9-]{0,15}$ ]] || { echo "lab: bad --prefix $PREFIX (a-z, 0-9, -; 16 characters at most)" >&2; exit 2; }
if ! [[ $NODES =~ ^[1-9][0-9]?$ ]] || [ "$NODES" -gt 40 ]; then
  echo "lab: --nodes wants 1 to 40" >&2
  exit 2
fi

STATE=$ROOT/_output/lab/$PREFIX
SUBNET=192.168.56
CP_IP=$SUBNET.10
SW=$PREFIX-sw

# Settings chosen at `up` are kept, so that later commands (heal, down) use the same ones.
if [ "$cmd" != up ] && [ -f "$STATE/lab.env" ]; then
  # shellcheck source=/dev/null
  . "$STATE/lab.env"
fi

die() { echo "lab: $*" >&2; exit 1; }
ns_of() { echo "$PREFIX-$1"; }
ip_of() { # MACHINE
  case "$1" in
    cp) echo "$CP_IP" ;;
    node[1-9]|node[1-9][0-9])
      [ "${1#node}" -le "$NODES" ] || die "no machine $1 (cp, node1..node$NODES)"
      echo "$SUBNET.$((10 + ${1#node}))"
      ;;
    *) die "no machine $1 (cp, node1..node$NODES)" ;;
  esac
}
role_of() { [ "$1" = cp ] && echo control-plane || echo node; }
machines() { echo cp; for k in $(seq 1 "$NODES"); do echo "node$k"; done; }
in_ns() { local m=$1; shift; nsenter --net="/var/run/netns/$(ns_of "$m")" "$@"; }
ns_exists() { [ -e "/var/run/netns/$1" ]; }
# A process runs (a zombie, dead but not yet reaped by its new parent, does not count).
alive() { [ -f "$1" ] && running "$(cat "$1")"; }

# vagrant/components.sh, run inside machine $1 (always: it sets sysctls and talks to the
# apiserver on the cluster network), with the environment it reads.
components() { # MACHINE components.sh-ARGS...
  local m=$1; shift
  in_ns "$m" env REPO="$ROOT" NODE_NAME="$m" NODE_IP="$(ip_of "$m")" CP_IP="$CP_IP" BIN_DIR="$BIN_DIR" \
    DATA_DIR="$STATE/$m" NODE_MONITOR_GRACE_PERIOD="$GRACE" REGISTRY_DATA="$REGISTRY_DATA" \
    bash "$ROOT/vagrant/components.sh" "$@"
}

# The registry's storage is filled once per content of the image scripts, and shared.
REGISTRY_DATA=$ROOT/_output/lab/registry-$(cat hack/build-images.sh hack/registry.sh | sha256sum | cut -c1-12)

# --- the network -----------------------------------------------------------------------

network_up() {
  if ! ns_exists "$SW"; then
    ip netns add "$SW"
  fi
  in_ns sw ip link set lo up
  in_ns sw ip link show br0 >/dev/null 2>&1 || in_ns sw ip link add br0 type bridge
  in_ns sw ip link set br0 up
  local m
  for m in $(machines); do
    ns_exists "$(ns_of "$m")" || ip netns add "$(ns_of "$m")"
    in_ns "$m" ip link set lo up
    if ! in_ns "$m" ip link show eth0 >/dev/null 2>&1; then
      # One cable: "$m" on the switch side, eth0 on the machine's side.
      in_ns sw ip link add "$m" type veth peer name eth0 netns "$(ns_of "$m")"
      in_ns "$m" ip addr add "$(ip_of "$m")/24" dev eth0
    fi
    in_ns sw ip link set "$m" master br0 up
    in_ns "$m" ip link set eth0 up
  done
}

# --- processes -------------------------------------------------------------------------

start_component() { # MACHINE NAME COMMAND
  local m=$1 name=$2 command=$3
  local pidfile=$STATE/$m/pids/$name.pid log=$STATE/$m/logs/$name.log
  mkdir -p "$STATE/$m/pids" "$STATE/$m/logs"
  alive "$pidfile" && return
  echo "\$ $command" >>"$log"
  # nsenter execs the command: the recorded pid is the component's own.
  # shellcheck disable=SC2086  # the command line is split into words, as a unit's ExecStart
  RUST_LOG=${RUST_LOG:-info} nohup nsenter --net="/var/run/netns/$(ns_of "$m")" $command >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "  $m: started $name (pid $!)"
}

stop_pid() { # PIDFILE [SIGNAL]: by pid, then waits (5 s, then SIGKILL)
  local pidfile=$1 sig=${2:-TERM} pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if running "$pid"; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pidfile"
}

start_machine() { # MACHINE
  local m=$1 line
  if [ "$m" = cp ]; then
    # One lab fills the shared registry storage at a time. (Only around `prepare`: the
    # components must not inherit the lock's file descriptor, or they would hold it.)
    mkdir -p "$ROOT/_output/lab"
    (flock 9; components cp prepare control-plane >/dev/null) 9>"$ROOT/_output/lab/.registry.lock"
  else
    components "$m" prepare node >/dev/null
  fi
  while IFS= read -r line; do
    start_component "$m" "${line%%|*}" "${line#*|}"
  done < <(components "$m" commands "$(role_of "$m")")
}

wait_until() { # WHAT SECONDS COMMAND...
  local what=$1 secs=$2; shift 2
  local until=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $until ] || die "$what did not happen within ${secs}s (logs in $STATE/*/logs/)"
    sleep 0.3
  done
}

api() { curl -fsS --max-time 5 "http://127.0.0.1:$API_PORT$1"; }

# Every node Ready, with a pod CIDR.
nodes_ready() {
  local ready
  ready=$(api /api/v1/nodes | jq '[.items[] | select(.spec.podCIDR != null and .spec.podCIDR != "") |
    select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length')
  [ "$ready" -ge "$NODES" ]
}

relay_up() {
  local pidfile=$STATE/relay.pid
  alive "$pidfile" && return
  if (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null; then
    die "127.0.0.1:$API_PORT is taken on this machine: choose another --api-port"
  fi
  command -v socat >/dev/null || die "socat is missing: run hack/install-deps.sh"
  # Its own session, so that `down` can stop it and the relays it forked for open
  # connections together (kill -- -PID: only this process group).
  setsid socat "TCP-LISTEN:$API_PORT,bind=127.0.0.1,reuseaddr,fork" \
    "EXEC:nsenter --net=/var/run/netns/$(ns_of cp) socat STDIO TCP\\:127.0.0.1\\:8080" \
    >>"$STATE/relay.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "  host: relay 127.0.0.1:$API_PORT -> cp 127.0.0.1:8080 (pid $!)"
}

# --- commands --------------------------------------------------------------------------

up() {
  [ "$(id -u)" = 0 ] || die "run as root (network namespaces, containerd)"
  mkdir -p "$STATE"
  if [ -z "$BIN_DIR" ]; then
    echo "building (release)..."
    cargo build --release -q -p kube-apiserver -p kube-controller-manager -p kube-scheduler -p kubelet -p kube-proxy --bins
    BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
  fi
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    [ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b is missing (build it, or give --bin-dir)"
  done
  printf 'NODES=%s\nAPI_PORT=%s\nBIN_DIR=%q\nGRACE=%s\n' "$NODES" "$API_PORT" "$BIN_DIR" "$GRACE" >"$STATE/lab.env"

  echo "network: $SW (bridge br0), $CP_IP/24 ..."
  network_up
  echo "control plane:"
  start_machine cp
  wait_until "the apiserver answering in cp" 60 in_ns cp curl -fsS --max-time 2 http://127.0.0.1:8080/readyz
  relay_up
  wait_until "the relay answering" 10 api /readyz
  echo "nodes:"
  for k in $(seq 1 "$NODES"); do start_machine "node$k"; done
  wait_until "$NODES node(s) Ready with a pod CIDR" 90 nodes_ready
  # The routes loops add them within 5 s; add them now, so that `up` returns a working lab.
  for m in $(machines); do components "$m" routes >/dev/null; done
  echo
  status
  cat <<MSG

The lab is up.
  hack/lab.sh kubectl get nodes -o wide     (or: kubectl --server=http://127.0.0.1:$API_PORT ...)
  hack/lab.sh in node1 curl http://POD_IP/
  hack/lab.sh kill-node node2 | partition node2 | heal node2
  hack/lab.sh down
MSG
}

status() {
  local m
  [ -f "$STATE/lab.env" ] || { echo "no lab $PREFIX"; return 0; }
  for m in $(machines); do
    local link=absent
    # (nsenter --net keeps this machine's /sys: ask ip, not /sys/class/net.)
    if ns_exists "$SW"; then link=$(in_ns sw ip -o link show "$m" 2>/dev/null | grep -o 'state [A-Z]*' | cut -d' ' -f2 || echo absent); fi
    printf '%-6s %-15s link %-5s' "$m" "$(ip_of "$m")" "$link"
    local line name
    while IFS= read -r line; do
      name=${line%%|*}
      if alive "$STATE/$m/pids/$name.pid"; then printf ' %s' "$name"; else printf ' %s(stopped)' "$name"; fi
    done < <(components "$m" commands "$(role_of "$m")" 2>/dev/null || true)
    echo
  done
  api /api/v1/nodes 2>/dev/null | jq -r '.items[] | "  node \(.metadata.name): podCIDR \(.spec.podCIDR // "-"), Ready=\([.status.conditions[]? | select(.type == "Ready") | .status][0] // "-")"' || true
}

# The containers a node's containerd runs: killed and removed, with the pods' network
# namespaces (CNI makes them in /var/run/netns, one per pod) and the pods' cgroups.

# SIGTERM to every component of every machine but containerd at once (each shuts down
# gracefully, in parallel), then wait for them: 5 s, then SIGKILL.
stop_components() {
  local f pid
  for f in "$STATE"/*/pids/*.pid; do
    if [ ! -e "$f" ] || [ "$(basename "$f")" = containerd.pid ]; then continue; fi
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
  done
  for f in "$STATE"/*/pids/*.pid; do
    if [ ! -e "$f" ] || [ "$(basename "$f")" = containerd.pid ]; then continue; fi
    stop_pid "$f"
  done
}

down() {
  local m
  [ -d "$STATE" ] || { echo "no lab $PREFIX"; return 0; }
  stop_components
  # Containers before their containerd, or their shims would be left running.
  for m in $(machines); do
    [ "$m" != cp ] || continue
    remove_containers "$STATE/$m/containerd/containerd.sock" "$STATE/$m"
    stop_pid "$STATE/$m/pids/containerd.pid"
  done
  if [ -f "$STATE/relay.pid" ]; then
    kill -- "-$(cat "$STATE/relay.pid")" 2>/dev/null || true
    rm -f "$STATE/relay.pid"
  fi
  for m in $(machines); do
    if ns_exists "$(ns_of "$m")"; then ip netns del "$(ns_of "$m")"; fi
    remove_pod_netns "$STATE/$m"
    touch "$STATE/$m/pod-uids"
    sort -u "$STATE/$m/pod-uids" | while read -r uid; do
      rmdir /sys/fs/cgroup/*/kubepods/{,besteffort/,burstable/}"pod$uid" 2>/dev/null || true
    done
  done
  # What containerd mounted under its root and state (rootfs overlays, sandboxes' /dev/shm).
  findmnt -rn -o TARGET | { grep "^$STATE/" || true; } | sort -r | while read -r target; do
    umount "$target" 2>/dev/null || umount -l "$target" || true
  done
  if ns_exists "$SW"; then ip netns del "$SW"; fi
  rm -rf "$STATE"
  echo "lab $PREFIX removed"
}

kill_node() { # NAME
  local m=${1:?kill-node NAME}
  ip_of "$m" >/dev/null
  [ "$m" != cp ] || die "kill-node is for nodes; try partition cp"
  for name in kubelet kube-proxy; do
    alive "$STATE/$m/pids/$name.pid" && echo "$m: killing $name (pid $(cat "$STATE/$m/pids/$name.pid"))"
    stop_pid "$STATE/$m/pids/$name.pid" KILL
  done
}

link() { # NAME up|down
  ip_of "$1" >/dev/null
  ns_exists "$SW" || die "no lab $PREFIX"
  in_ns sw ip link set "$1" "$2"
  echo "$1: link $2"
}

heal() { # NAME
  link "$1" up
  start_machine "$1"
}

in_pod() { # POD CMD...
  local pod=${1:?in-pod POD CMD...} node sock id path
  shift
  node=$(api "/api/v1/namespaces/${NAMESPACE:-default}/pods/$pod" | jq -r '.spec.nodeName // empty')
  [ -n "$node" ] || die "pod $pod is not on a node"
  sock=$STATE/$node/containerd/containerd.sock
  id=$(ctr --address "$sock" -n k8s.io containers ls -q "labels.\"io.kubernetes.pod.name\"==$pod,labels.\"io.cri-containerd.kind\"==sandbox" | head -1)
  [ -n "$id" ] || die "no sandbox for pod $pod on $node"
  path=$(ctr --address "$sock" -n k8s.io containers info "$id" | grep -o '/var/run/netns/cni-[0-9a-f-]*' | head -1)
  [ -n "$path" ] || die "pod $pod has no network namespace"
  nsenter --net="$path" "$@"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  kill-node) kill_node "${args[0]:-}" ;;
  partition) link "${args[0]:?partition NAME}" down ;;
  heal) heal "${args[0]:?heal NAME}" ;;
  kubectl) exec kubectl --server="http://127.0.0.1:$API_PORT" "${args[@]}" ;;
  in) m=${args[0]:?in NAME CMD...}; ip_of "$m" >/dev/null; in_ns "$m" "${args[@]:1}" ;;
  in-pod) in_pod "${args[@]}" ;;
  help|-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" ;;
  *) echo "lab: unknown command $cmd (try hack/lab.sh help)" >&2; exit 2 ;;
esac
