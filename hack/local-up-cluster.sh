#!/usr/bin/env bash
# Brings up a whole one-node cluster on this machine (upstream's script has the same name and
# job): etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd (with a local
# image registry), the kubelet and kube-proxy — each in its own tmux window, named after the
# component, whose first line is the exact command line, so a learner can copy it and run the
# component by hand. See docs/local-up-cluster.md.
#
#   hack/local-up-cluster.sh               install what is missing, build, start, wait for the
#                                          node to be Ready, print how to use the cluster
#   hack/local-up-cluster.sh --no-tmux     the same processes in the background, logs in files
#   hack/local-up-cluster.sh --vm          use the host's network (on a VM of your own), as the
#                                          tutorials do, instead of a network namespace
#   hack/local-up-cluster.sh --down        stop everything it started and remove what it created
#   hack/local-up-cluster.sh --down --keep-data    ... but keep the data directory
#
# Where the node lives. Pods and Services get private addresses (10.244.x.y, 10.0.0.x), which
# must not reach the network of a shared machine. So, by default, the node is a network
# namespace the script creates (LOCAL_UP_NETNS, `kube-local`) and EVERY component runs in it,
# through `nsenter --net=/var/run/netns/NAME`: its own loopback (etcd, the apiserver, the
# registry), an `eth0` with the node's address (192.168.56.10, like a Vagrant host-only
# network) and no route out. The host's kubectl reaches the apiserver through a relay
# (`socat`, the `relay` window): host 127.0.0.1:8080 <-> namespace 127.0.0.1:8080.
# With --vm everything runs on the host's network instead, and no relay is needed.
#
# Settings (environment), so that several clusters can run side by side (the tests do):
#   LOCAL_UP_DIR        data, logs, pids, kubeconfig   (_output/local-up)
#   LOCAL_UP_NETNS      the node's network namespace    (kube-local)
#   LOCAL_UP_SESSION    the tmux session                (the namespace's name)
#   LOCAL_UP_API_PORT   the apiserver's port on the host's 127.0.0.1 (8080)
#   LOCAL_UP_NODE_IP    the node's address              (192.168.56.10)
#   LOCAL_UP_NODE_NAME  the node's name                 (this machine's hostname)
#   LOCAL_UP_PROFILE    release or debug build          (release)
#   LOCAL_UP_BIN_DIR    use the binaries in this directory, do not build
#   LOCAL_UP_IMAGES_DIR / LOCAL_UP_REGISTRY_DATA   images already built by hack/build-images.sh
#                       and a registry storage already filled by `hack/registry.sh fill`
#                       (default: built once into _output/images, kept by --down)
# `--down` reads the settings the cluster was started with from LOCAL_UP_DIR/settings.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib/node-cleanup.sh source-path=SCRIPTDIR
. "$ROOT/hack/lib/node-cleanup.sh"

OUT=$(realpath -m "${LOCAL_UP_DIR:-$ROOT/_output/local-up}")
mode=tmux
netmode=netns
down=false
keep=false
for arg in "$@"; do
  case "$arg" in
    --no-tmux) mode=background ;;
    --vm) netmode=host ;;
    --down) down=true ;;
    --keep-data) keep=true ;;
    -h | --help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "local-up-cluster: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "local-up-cluster: run me as root (network namespaces, containerd, iptables)" >&2
  exit 1
fi

# --- Settings -------------------------------------------------------------------------------
# --down uses the settings of the `up` that created OUT, whatever the environment says now.
if $down; then
  if [ ! -f "$OUT/settings" ]; then
    echo "no cluster was started from $OUT: nothing to stop"
    exit 0
  fi
  # shellcheck disable=SC1091
  source "$OUT/settings"
fi
NETMODE=${LOCAL_UP_NETMODE:-$netmode}
NETNS=${LOCAL_UP_NETNS:-kube-local}
SESSION=${LOCAL_UP_SESSION:-$NETNS}
HOST_API_PORT=${LOCAL_UP_API_PORT:-8080}
NODE_NAME=${LOCAL_UP_NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}
if [ "$NETMODE" = netns ]; then
  NODE_IP=${LOCAL_UP_NODE_IP:-192.168.56.10}
  API_PORT=8080 # inside the namespace every port is free: upstream's defaults
else
  # On a VM: the address of the interface the default route uses (nothing is sent).
  NODE_IP=${LOCAL_UP_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
  API_PORT=$HOST_API_PORT
fi
ETCD_PORT=2379
REGISTRY_ADDR=127.0.0.1:5000
SERVICE_CIDR=10.0.0.0/24     # seed 003: the `kubernetes` Service is 10.0.0.1
CLUSTER_CIDR=10.244.0.0/16   # pods; each node gets a /24 of it from the controller manager
NETNS_PATH=/var/run/netns/$NETNS
API=http://127.0.0.1:$API_PORT

# innode CMD...: runs CMD in the node's network (the namespace, or the host with --vm).
innode() {
  if [ "$NETMODE" = netns ]; then nsenter --net="$NETNS_PATH" "$@"; else "$@"; fi
}
# The prefix shown in, and used by, every component's command line.
node_prefix() {
  if [ "$NETMODE" = netns ]; then echo "nsenter --net=$NETNS_PATH "; fi
}

# --- Stopping ---------------------------------------------------------------------------------


# stop NAME: SIGTERM to the component this script started (its recorded PID), SIGKILL if it
# still runs after 10 s, then the same to what is left of its process group (the log's tee,
# the relay's per-connection children): in tmux and in the background alike the component
# leads a session of its own. Never by name: other clusters may run on this machine.
stop() {
  local pidfile="$OUT/pids/$1.pid" pid t0=$SECONDS
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      running "$pid" || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    echo "stopped $1 (pid $pid) in $((SECONDS - t0)) s"
  fi
  kill -TERM -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
}


down_all() {
  # The node's agents first, so that nothing restarts what is being removed.
  stop kubelet
  stop kube-proxy
  if [ "$NETMODE" = host ] && [ -x "${BIN:-}/kube-proxy" ]; then
    "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 && echo "removed kube-proxy's iptables chains"
  fi
  stop kube-scheduler
  stop kube-controller-manager
  remove_containers "$OUT/containerd/containerd.sock" "$OUT"
  stop containerd
  stop registry
  remove_pod_netns "$OUT"
  stop relay
  stop kube-apiserver
  stop etcd
  # Anything else recorded (a component added later, e.g. a second relay).
  for pidfile in "$OUT"/pids/*.pid; do
    if [ -e "$pidfile" ]; then stop "$(basename "$pidfile" .pid)"; fi
  done
  # What containerd mounted (sandboxes' /dev/shm, rootfs) under its own directories.
  for d in "$OUT/containerd/state" "$OUT/containerd/root"; do
    if [ -d "$d" ]; then umount -R "$d" 2>/dev/null || true; fi
    { grep -o " $d/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  done
  if [ "$NETMODE" = host ]; then
    if ip link del cbr0 2>/dev/null; then echo "removed the pod bridge cbr0"; fi
  elif [ -e "$NETNS_PATH" ]; then
    # kube-proxy's chains, the pod bridge, eth0: all go with the namespace.
    ip netns del "$NETNS" && echo "removed network namespace $NETNS"
  fi
  if command -v tmux >/dev/null && tmux has-session -t "=$SESSION" 2>/dev/null; then
    tmux kill-session -t "=$SESSION" && echo "closed tmux session $SESSION"
  fi
  if $keep; then
    echo "kept $OUT"
  elif [ -d "$OUT" ]; then
    rm -rf "$OUT" && echo "removed $OUT"
  fi
}

if $down; then
  down_all
  exit 0
fi

# --- Preparing --------------------------------------------------------------------------------

if [ -d "$OUT/pids" ] && [ -n "$(ls -A "$OUT/pids")" ]; then
  echo "local-up-cluster: a cluster already runs from $OUT; stop it first: $0 --down" >&2
  exit 1
fi
if [ "$NETMODE" = netns ] && [ -e "$NETNS_PATH" ]; then
  echo "local-up-cluster: network namespace $NETNS exists; remove it (ip netns del $NETNS) or set LOCAL_UP_NETNS" >&2
  exit 1
fi

bash hack/install-deps.sh
if [ -n "${LOCAL_UP_BIN_DIR:-}" ]; then
  BIN=$(realpath "$LOCAL_UP_BIN_DIR")
else
  PROFILE=${LOCAL_UP_PROFILE:-release} # LOCAL_UP_PROFILE=debug builds faster, runs slower
  echo "building ($PROFILE)..."
  if [ "$PROFILE" = release ]; then cargo build --release --bins -q; else cargo build --bins -q; fi
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE
fi
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl-lite; do
  [ -x "$BIN/$b" ] || { echo "local-up-cluster: $BIN/$b is missing" >&2; exit 1; }
done

# Images: built from busybox (nothing can be pulled from the internet), pushed into the
# storage of a local registry once, and kept across --down.
IMAGES=${LOCAL_UP_IMAGES_DIR:-$ROOT/_output/images}
REGISTRY_DATA=${LOCAL_UP_REGISTRY_DATA:-$ROOT/_output/registry}
if [ ! -f "$IMAGES/hello.tar" ]; then bash hack/build-images.sh "$IMAGES" >/dev/null; fi
if [ ! -d "$REGISTRY_DATA/docker" ]; then bash hack/registry.sh fill "$REGISTRY_DATA" "$IMAGES" >/dev/null; fi

mkdir -p "$OUT/pids" "$OUT/logs" "$OUT/run" "$OUT/manifests"
cat >"$OUT/settings" <<EOF
# What hack/local-up-cluster.sh started this cluster with (read by --down).
LOCAL_UP_NETMODE=$NETMODE
LOCAL_UP_NETNS=$NETNS
LOCAL_UP_SESSION=$SESSION
LOCAL_UP_API_PORT=$HOST_API_PORT
LOCAL_UP_NODE_IP=$NODE_IP
LOCAL_UP_NODE_NAME=$NODE_NAME
BIN=$BIN
EOF
failed() {
  echo >&2
  echo "local-up-cluster: startup failed. Logs: $OUT/logs/. Clean up with: LOCAL_UP_DIR=$OUT $0 --down" >&2
}
trap failed ERR

# The node's network: a namespace with loopback, an eth0 holding the node's address, and a
# route for the Service CIDR. That route is needed before the nat OUTPUT chain can DNAT a
# ClusterIP (on a VM the default route plays this part; here there is no route out).
# The other end of eth0 stays in the namespace, plugged into nothing (hack/lab.sh plugs
# several nodes into one bridge instead).
if [ "$NETMODE" = netns ]; then
  echo "creating the node's network namespace $NETNS:"
  for c in "ip netns add $NETNS" \
    "nsenter --net=$NETNS_PATH ip link set lo up" \
    "nsenter --net=$NETNS_PATH ip link add eth0 type veth peer name eth0-peer" \
    "nsenter --net=$NETNS_PATH ip addr add $NODE_IP/24 dev eth0" \
    "nsenter --net=$NETNS_PATH ip link set eth0-peer up" \
    "nsenter --net=$NETNS_PATH ip link set eth0 up" \
    "nsenter --net=$NETNS_PATH ip route add $SERVICE_CIDR dev eth0"; do
    echo "  $c"
    $c
  done
fi

# containerd's configuration (hack/containerd.sh explains each setting) and the registry
# mirrors pointing docker.io and registry.k8s.io at the local registry.
bash hack/containerd.sh config "$OUT/containerd" >/dev/null
bash hack/registry.sh mirrors "$OUT/containerd/certs.d" "$REGISTRY_ADDR"
cat >"$OUT/registry.yml" <<YAML
# The local registry (hack/registry.sh): read-only storage, shared by every cluster.
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DATA
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $REGISTRY_ADDR
YAML
# The user's kubeconfig: the apiserver as seen from the host (through the relay).
cat >"$OUT/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: local-up
  cluster:
    server: http://127.0.0.1:$HOST_API_PORT
users:
- name: admin
  user: {}
contexts:
- name: local-up
  context: {cluster: local-up, user: admin}
current-context: local-up
YAML

# --- The components: one function per command line -------------------------------------------
# Each prints the command line (without the namespace prefix). A TLS variant changes
# api_flags (and the apiserver's flags), nothing else.

# api_flags COMPONENT: how a component finds the apiserver (the tutorials' flags).
api_flags() {
  case "$1" in
    kubelet) echo "--api-servers=127.0.0.1:$API_PORT" ;;
    *) echo "--master=$API" ;;
  esac
}

cmd_etcd() {
  echo "etcd --name=local --data-dir=$OUT/etcd" \
    "--listen-client-urls=http://127.0.0.1:$ETCD_PORT --advertise-client-urls=http://127.0.0.1:$ETCD_PORT" \
    "--listen-peer-urls=http://127.0.0.1:$((ETCD_PORT + 1)) --initial-advertise-peer-urls=http://127.0.0.1:$((ETCD_PORT + 1))" \
    "--initial-cluster=local=http://127.0.0.1:$((ETCD_PORT + 1))"
}
cmd_kube-apiserver() {
  echo "$BIN/kube-apiserver --etcd-servers=http://127.0.0.1:$ETCD_PORT --service-cluster-ip-range=$SERVICE_CIDR" \
    "--insecure-port=$API_PORT --advertise-address=$NODE_IP"
}
cmd_kube-controller-manager() {
  echo "$BIN/kube-controller-manager $(api_flags kube-controller-manager) --allocate-node-cidrs --cluster-cidr=$CLUSTER_CIDR"
}
cmd_kube-scheduler() {
  echo "$BIN/kube-scheduler $(api_flags kube-scheduler)"
}
cmd_registry() {
  echo "docker-registry serve $OUT/registry.yml"
}
cmd_containerd() {
  echo "containerd --config $OUT/containerd/config.toml"
}
cmd_kubelet() {
  echo "$BIN/kubelet $(api_flags kubelet) --container-runtime-endpoint=unix://$OUT/containerd/containerd.sock" \
    "--node-ip=$NODE_IP --hostname-override=$NODE_NAME --cni-conf-dir=$OUT/containerd/cni" \
    "--root-dir=$OUT/kubelet --pod-logs-dir=$OUT/pod-logs --pod-manifest-path=$OUT/manifests"
}
cmd_kube-proxy() {
  echo "$BIN/kube-proxy $(api_flags kube-proxy) --hostname-override=$NODE_NAME --cluster-cidr=$CLUSTER_CIDR"
}
# The relay runs on the host (not in the namespace): it listens on the host's loopback and,
# for each connection, enters the namespace to connect to the apiserver there.
# relay_cmd HOST_PORT NAMESPACE_PORT (with TLS: a second window, `relay-6443`, for 6443).
relay_cmd() {
  echo "socat TCP-LISTEN:$1,bind=127.0.0.1,reuseaddr,fork" \
    "EXEC:\"nsenter --net=$NETNS_PATH socat STDIO TCP\\:127.0.0.1\\:$2\""
}
cmd_relay() {
  relay_cmd "$HOST_API_PORT" "$API_PORT"
}
why_relay="# Why this window: kubectl on the host cannot reach 127.0.0.1:$API_PORT inside the namespace $NETNS,
# so socat listens on the host's 127.0.0.1:$HOST_API_PORT and, per connection, enters the namespace
# and connects to the apiserver there."

# start NAME [on-host]: writes OUT/run/NAME.sh — print the command line, record the PID, exec
# the command (so the PID recorded is the component's) — and runs it in a tmux window named
# NAME, or in the background, in a session of its own either way (so that --down can stop the
# whole process group). Logs go to OUT/logs/NAME.log in both modes.
start() {
  local name=$1 where=${2:-node} cmd script log
  cmd=$("cmd_$name")
  [ "$where" = host ] || cmd="$(node_prefix)$cmd"
  script="$OUT/run/$name.sh" log="$OUT/logs/$name.log"
  {
    echo "#!/usr/bin/env bash"
    echo "# $name, started by hack/local-up-cluster.sh"
    echo "echo \$\$ > $OUT/pids/$name.pid"
    if [ "$mode" = tmux ]; then
      echo "exec > >(tee -a $log) 2>&1"
    else
      echo "exec >> $log 2>&1"
    fi
    printf 'echo %q\n' "\$ $cmd"
    [[ "$name" != relay* ]] || printf "cat <<'WHY'\n%s\nWHY\n" "$why_relay"
    echo "exec $cmd"
  } >"$script"
  chmod +x "$script"
  if [ "$mode" = tmux ]; then
    if ! tmux has-session -t "=$SESSION" 2>/dev/null; then
      tmux new-session -d -s "$SESSION" -n "$name" "exec $script"
    else
      tmux new-window -d -t "=$SESSION:" -n "$name" "exec $script"
    fi
    # A window whose process exits stays open, showing its last lines.
    tmux set-option -w -t "=$SESSION:$name" remain-on-exit on >/dev/null
  else
    setsid "$script" </dev/null >/dev/null 2>&1 &
  fi
  for _ in $(seq 50); do
    [ -s "$OUT/pids/$name.pid" ] && break
    sleep 0.1
  done
  echo "started $name (pid $(cat "$OUT/pids/$name.pid" 2>/dev/null || echo '?'))"
}

# wait_until WHAT SECONDS CMD...: polls CMD every 0.2 s.
wait_until() {
  local what=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "local-up-cluster: $what did not happen within $secs s" >&2
  false
}
# node_ready: the node's Ready condition is True, and was posted by this run's kubelet (with
# --keep-data, etcd still holds the previous run's status).
node_ready() {
  local ready heartbeat
  read -r ready heartbeat < <(kubectl --kubeconfig="$OUT/kubeconfig" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}' 2>/dev/null)
  [ "$ready" = True ] && [[ ! "$heartbeat" < "$started_iso" ]]
}

# --- Starting, in dependency order --------------------------------------------------------------
started_at=$(date +%s%N)
started_iso=$(date -u +%Y-%m-%dT%H:%M:%SZ)
start etcd
wait_until "etcd answering /health" 30 innode curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
start kube-apiserver
wait_until "kube-apiserver answering /readyz" 30 innode curl -fsS "$API/readyz"
if [ "$NETMODE" = netns ]; then
  start relay host
  wait_until "the relay answering on 127.0.0.1:$HOST_API_PORT" 10 curl -fsS "http://127.0.0.1:$HOST_API_PORT/readyz"
fi
start kube-controller-manager
start kube-scheduler
start registry
wait_until "the registry answering /v2/" 20 innode curl -fsS "http://$REGISTRY_ADDR/v2/"
start containerd
wait_until "containerd answering" 30 ctr --address "$OUT/containerd/containerd.sock" version
# The sandbox ("pause") image is imported, as kubeadm pre-pulls it; the others are pulled
# from the local registry when a pod needs them.
ctr --address "$OUT/containerd/containerd.sock" -n k8s.io images import "$IMAGES/pause.tar" >/dev/null
start kubelet
start kube-proxy
echo "waiting for node $NODE_NAME to be Ready..."
wait_until "node $NODE_NAME becoming Ready" 120 node_ready
for pidfile in "$OUT"/pids/*.pid; do
  running "$(cat "$pidfile")" ||
    { echo "local-up-cluster: $(basename "$pidfile" .pid) exited; see $OUT/logs/" >&2; false; }
done
ready_ms=$((($(date +%s%N) - started_at) / 1000000))
trap - ERR

# --- How to use it ------------------------------------------------------------------------------
env_prefix=""
[ -z "${LOCAL_UP_DIR:-}" ] || env_prefix="LOCAL_UP_DIR=$OUT "
cat <<MSG

The cluster is up: node $NODE_NAME is Ready ($((ready_ms / 1000)).$((ready_ms % 1000 / 100)) s after etcd started).

  export KUBECONFIG=$OUT/kubeconfig      # or: kubectl --server=http://127.0.0.1:$HOST_API_PORT ...
  kubectl get nodes -o wide
  kubectl create deployment web --image=zwindler/vhelloworld
  kubectl scale deployment web --replicas=2
  kubectl expose deployment web --port 3000 --target-port 80
  kubectl get pods,services -o wide
  kubectl logs deployment/web
  $BIN/kubectl-lite get pods,services     # the project's small kubectl, same KUBECONFIG
MSG
if [ "$NETMODE" = netns ]; then
  cat <<MSG

Pod and Service addresses live in the node's network namespace $NETNS:
  alias innode='nsenter --net=$NETNS_PATH'
  innode curl http://CLUSTER-IP:3000/            # a Service (kubectl get services)
  innode curl http://POD-IP/                     # a pod (kubectl get pods -o wide)
  innode iptables -t nat -L KUBE-SERVICES        # kube-proxy's rules
MSG
else
  cat <<MSG

  curl http://CLUSTER-IP:3000/                   # a Service (kubectl get services)
  iptables -t nat -L KUBE-SERVICES               # kube-proxy's rules
MSG
fi
echo
if [ "$mode" = tmux ]; then
  echo "Components: tmux attach -t $SESSION   (one window per component; Ctrl-b n for the next)"
fi
echo "Logs: $OUT/logs/"
echo "Stop: ${env_prefix}$0 --down      (--keep-data keeps $OUT)"
