# shellcheck shell=bash
# What hack/local-up-cluster.sh and hack/lab.sh both need to take a node down cleanly.
# Source it; it defines functions only.

# running PID: the process exists and is not a zombie (an exited process its parent has not
# reaped yet; on some machines PID 1 reaps orphans slowly).
running() {
  kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# remove_containers SOCKET DIR: every container and sandbox of the containerd at SOCKET,
# killed and removed while that containerd still runs (their shims would outlive it
# otherwise). The pods' network namespaces (cni-..., named in each sandbox's spec: that
# containerd's alone) are appended to DIR/pod-netns, the pods' UIDs to DIR/pod-uids.
remove_containers() {
  local sock=$1 dir=$2 id n=0
  local ctr=(ctr --address "$sock" -n k8s.io)
  "${ctr[@]}" version >/dev/null 2>&1 || return 0
  for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
    "${ctr[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    "${ctr[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true
  done
  for id in $("${ctr[@]}" containers ls -q 2>/dev/null); do
    "${ctr[@]}" containers info "$id" 2>/dev/null | grep -o '/var/run/netns/cni-[0-9a-f-]*' >>"$dir/pod-netns" || true
    "${ctr[@]}" containers info "$id" 2>/dev/null | jq -r '.Labels["io.kubernetes.pod.uid"] // empty' >>"$dir/pod-uids" || true
    "${ctr[@]}" containers rm "$id" >/dev/null 2>&1 || true
    n=$((n + 1))
  done
  [ "$n" = 0 ] || echo "removed $n containers and sandboxes"
}

# remove_pod_netns DIR: the network namespaces remove_containers recorded in DIR/pod-netns.
remove_pod_netns() {
  local dir=$1 path
  [ -f "$dir/pod-netns" ] || return 0
  sort -u "$dir/pod-netns" | while read -r path; do
    umount "$path" 2>/dev/null || true
    rm -f "$path"
  done
  rm -f "$dir/pod-netns"
}
