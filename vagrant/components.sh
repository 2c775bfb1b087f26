#!/usr/bin/env bash
# One machine of a multi-node cluster: which components it runs and with which command
# lines. Written once, used twice:
#   - by vagrant/provision.sh on a Vagrant VM, which turns the command lines into systemd
#     units and starts them;
#   - by hack/lab.sh on this machine, which runs the very same command lines inside one
#     network namespace per "machine" (no systemd there).
# So the lab's tests exercise the provisioning logic (docs/lab.md).
#
#   vagrant/components.sh commands ROLE      one "NAME|COMMAND LINE" per component, in start order
#   vagrant/components.sh units ROLE DIR     writes DIR/lab-NAME.service for each component
#   vagrant/components.sh prepare ROLE       directories, configs, images, sysctls they need
#   vagrant/components.sh routes [--watch]   host-gw routes to the other nodes' pod CIDRs
#
# ROLE is `control-plane` (etcd, the image registry, kube-apiserver,
# kube-controller-manager, kube-scheduler) or `node` (containerd, kubelet, kube-proxy).
# Everything else comes from the environment (defaults are the Vagrant VMs'):
#   NODE_NAME, NODE_IP     this machine's name and address on the cluster network
#   CP_IP                  the control plane's address (apiserver :8080, registry :5000)
#   BIN_DIR                where kube-* binaries are (/usr/local/bin)
#   DATA_DIR               this machine's state: etcd data, containerd root, kubelet dir (/var/lib/kube)
#   REPO                   the repository (for hack/*.sh; default: this script's parent)
#   CLUSTER_CIDR           the pods' range, cut into one /24 per node by the controller-manager (10.244.0.0/16)
#   SERVICE_CIDR           ClusterIPs (10.0.0.0/24)
#   NODE_MONITOR_GRACE_PERIOD   how long a silent node stays Ready (40s, upstream's default)
#   REGISTRY_DATA          the registry's storage (DATA_DIR/registry), filled once with hack/build-images.sh
#
# The apiserver serves plain HTTP on CP_IP:8080 (the insecure port, as in the tutorial until
# TLS lands): on a private network of VMs, or inside the lab's namespaces, only.
set -euo pipefail

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NODE_NAME=${NODE_NAME:-$(hostname)}
CP_IP=${CP_IP:-192.168.56.10}
NODE_IP=${NODE_IP:-$CP_IP}
BIN_DIR=${BIN_DIR:-/usr/local/bin}
DATA_DIR=${DATA_DIR:-/var/lib/kube}
CLUSTER_CIDR=${CLUSTER_CIDR:-10.244.0.0/16}
SERVICE_CIDR=${SERVICE_CIDR:-10.0.0.0/24}
NODE_MONITOR_GRACE_PERIOD=${NODE_MONITOR_GRACE_PERIOD:-40s}
REGISTRY_DATA=${REGISTRY_DATA:-$DATA_DIR/registry}
API=http://$CP_IP:8080

# The command lines. Each is what you would type in a tmux window of the tutorial, with
# the addresses of a multi-machine cluster: components on the control plane talk to the
# apiserver over its loopback, the nodes over the cluster network.
commands() {
  case "$1" in
    control-plane)
      echo "etcd|etcd --name $NODE_NAME --data-dir $DATA_DIR/etcd --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster $NODE_NAME=http://127.0.0.1:2380"
      echo "registry|docker-registry serve $DATA_DIR/registry.yml"
      echo "kube-apiserver|$BIN_DIR/kube-apiserver --etcd-servers=http://127.0.0.1:2379 --service-cluster-ip-range=$SERVICE_CIDR --insecure-bind-address=0.0.0.0 --insecure-port=8080 --advertise-address=$CP_IP"
      echo "kube-controller-manager|$BIN_DIR/kube-controller-manager --master=http://127.0.0.1:8080 --allocate-node-cidrs --cluster-cidr=$CLUSTER_CIDR --node-monitor-grace-period=$NODE_MONITOR_GRACE_PERIOD"
      echo "kube-scheduler|$BIN_DIR/kube-scheduler --master=http://127.0.0.1:8080"
      routes_command
      ;;
    node)
      echo "containerd|containerd --config $DATA_DIR/containerd/config.toml"
      # No --pod-cidr: the controller-manager gives the node one (spec.podCIDR) and the
      # kubelet writes the CNI config for it.
      echo "kubelet|$BIN_DIR/kubelet --api-servers=$CP_IP:8080 --hostname-override=$NODE_NAME --node-ip=$NODE_IP --container-runtime-endpoint=unix://$DATA_DIR/containerd/containerd.sock --cni-conf-dir=$DATA_DIR/containerd/cni --root-dir=$DATA_DIR/kubelet --pod-logs-dir=$DATA_DIR/pod-logs"
      echo "kube-proxy|$BIN_DIR/kube-proxy --master=$API --hostname-override=$NODE_NAME --cluster-cidr=$CLUSTER_CIDR"
      routes_command
      ;;
    *) echo "unknown role $1: want control-plane or node" >&2; exit 2 ;;
  esac
}

# Not a Kubernetes component: the loop that keeps this machine's host-gw routes (below) in
# step with the nodes, on every machine (flannel's host-gw backend does this job upstream).
routes_command() {
  echo "routes|env CP_IP=$CP_IP NODE_IP=$NODE_IP SERVICE_CIDR=$SERVICE_CIDR bash $REPO/vagrant/components.sh routes --watch"
}

# The systemd unit of one component: its command line as ExecStart, restarted when it dies
# (what makes a VM's cluster come back after a reboot).
unit() { # NAME COMMAND
  cat <<UNIT
[Unit]
Description=$1 (kube-rs-lab)
After=network-online.target
Wants=network-online.target

[Service]
Environment=RUST_LOG=info
ExecStart=$2
Restart=always
RestartSec=2
KillMode=process

[Install]
WantedBy=multi-user.target
UNIT
}

units() { # ROLE DIR
  local dir=${2:?usage: components.sh units ROLE DIR} line
  mkdir -p "$dir"
  while IFS= read -r line; do
    unit "${line%%|*}" "${line#*|}" >"$dir/lab-${line%%|*}.service"
    echo "$dir/lab-${line%%|*}.service"
  done < <(commands "$1")
}

# What the components need before they start. Idempotent.
prepare() {
  mkdir -p "$DATA_DIR"
  case "$1" in
    control-plane)
      # The images every node pulls (nothing can be pulled from the internet): built
      # from busybox and pushed into the registry's storage once.
      if [ ! -d "$REGISTRY_DATA/docker" ]; then
        bash "$REPO/hack/build-images.sh" "$DATA_DIR/images" >/dev/null
        bash "$REPO/hack/registry.sh" fill "$REGISTRY_DATA" "$DATA_DIR/images" >/dev/null
      fi
      bash "$REPO/hack/registry.sh" config "$REGISTRY_DATA" "$CP_IP:5000" "$DATA_DIR/registry.yml"
      ;;
    node)
      # containerd's own root, state, socket and CNI conf dir; its docker.io and
      # registry.k8s.io mirrors are the control plane's registry.
      bash "$REPO/hack/containerd.sh" config "$DATA_DIR/containerd" >/dev/null
      bash "$REPO/hack/registry.sh" mirrors "$DATA_DIR/containerd/certs.d" "$CP_IP:5000"
      mkdir -p "$DATA_DIR/kubelet" "$DATA_DIR/pod-logs"
      # A node routes packets between its pods and the other nodes.
      sysctl -qw net.ipv4.ip_forward=1
      ;;
    *) echo "unknown role $1: want control-plane or node" >&2; exit 2 ;;
  esac
}

# host-gw: each node's pod CIDR (spec.podCIDR, given by the controller-manager) is reached
# through that node's InternalIP; nothing else (no overlay, no default route needed). Also
# routes the ClusterIP range onto the cluster network, so that the nat OUTPUT chain sees
# (and DNATs) connections a node opens to a ClusterIP even without a default route.
routes_once() {
  local nodes dev
  nodes=$(curl -fsS --max-time 5 "$API/api/v1/nodes") || return 1
  dev=$(ip -o -4 addr show | awk -v ip="$NODE_IP" '{split($4, a, "/")} a[1] == ip {print $2; exit}')
  [ -n "$dev" ] || { echo "routes: no interface has $NODE_IP" >&2; return 1; }
  ip route replace "$SERVICE_CIDR" dev "$dev"
  jq -r '.items[] | [.spec.podCIDR // "", (.status.addresses // [] | map(select(.type == "InternalIP")) | .[0].address // "")] | @tsv' <<<"$nodes" |
    while IFS=$'\t' read -r cidr ip; do
      if [ -z "$cidr" ] || [ -z "$ip" ] || [ "$ip" = "$NODE_IP" ]; then continue; fi
      ip route replace "$cidr" via "$ip" dev "$dev"
      echo "route $cidr via $ip"
    done
}

cmd=${1:?usage: components.sh commands|units|prepare|routes ...}
case "$cmd" in
  commands) commands "${2:?ROLE}" ;;
  units) units "${2:?ROLE}" "${3:-}" ;;
  prepare) prepare "${2:?ROLE}" ;;
  routes)
    if [ "${2:-}" = --watch ]; then
      # Stops at once on SIGTERM (a sleep in the foreground would delay the trap).
      trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM INT
      while true; do
        routes_once >/dev/null || true
        sleep 5 & sleeper=$!
        wait "$sleeper" || true
      done
    else
      routes_once
    fi
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
