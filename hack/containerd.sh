#!/usr/bin/env bash
# Writes a containerd configuration that works on this machine (and on a plain Debian 12
# VM), and optionally starts a private containerd with it.
#
#   hack/containerd.sh config DIR   # writes DIR/config.toml, creates DIR/{root,state,cni,certs.d}
#   hack/containerd.sh start  DIR   # the same, then starts containerd in the background
#                                   # (log DIR/containerd.log, pid DIR/containerd.pid)
#
# Both print the socket (DIR/containerd.sock). Run `start` inside a network namespace
# (`nsenter --net=/var/run/netns/NAME hack/containerd.sh start DIR`) when pods must get
# addresses: the CNI bridge and pod IPs live in containerd's network namespace.
#
# Why each setting (see ENVIRONMENT.md):
# - restrict_oom_score_adj: in this container runc may not lower oom_score_adj; without it
#   every sandbox fails with "can't get final child's PID from pipe: EOF".
# - sandbox_image: the pause image built by hack/build-images.sh (nothing can be pulled).
# - cni bin_dir/conf_dir: Debian's plugins live in /usr/lib/cni; the kubelet writes the
#   conflist for its pod CIDR into DIR/cni (its --cni-conf-dir).
# - SystemdCgroup = false: cgroups v1 with the cgroupfs driver, no systemd here.
# - registry config_path: per-registry hosts.toml files (mirrors), see hack/registry.sh.
# Idempotent: the config is rewritten with the same content; `start` refuses to start a
# second containerd on a socket that already answers.
set -euo pipefail

cmd=${1:?usage: containerd.sh config|start DIR}
dir=$(realpath -m "${2:?usage: containerd.sh config|start DIR}")
sock="$dir/containerd.sock"
mkdir -p "$dir/root" "$dir/state" "$dir/cni" "$dir/certs.d"

cat >"$dir/config.toml" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9"
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$dir/certs.d"
TOML

case "$cmd" in
  config) ;;
  start)
    if ctr --address "$sock" version >/dev/null 2>&1; then
      echo "containerd already answers on $sock" >&2
    else
      nohup containerd --config "$dir/config.toml" >>"$dir/containerd.log" 2>&1 &
      echo $! >"$dir/containerd.pid"
      for _ in $(seq 100); do
        ctr --address "$sock" version >/dev/null 2>&1 && break
        sleep 0.1
      done
      ctr --address "$sock" version >/dev/null || { echo "containerd did not start; see $dir/containerd.log" >&2; exit 1; }
    fi
    ;;
  *) echo "unknown command $cmd: want config or start" >&2; exit 2 ;;
esac
echo "$sock"
