#!/usr/bin/env bash
# Install what the project needs on a fresh Debian 12 machine (as root), idempotently:
# etcd (server and etcdctl), containerd, runc, the CNI plugins, iptables, conntrack,
# busybox-static (for local images), protoc (needed to build etcd-client), the local
# registry, curl, jq and tmux; socat (the relays from the host's loopback into the cluster's
# network namespaces: hack/local-up-cluster.sh, hack/lab.sh) and shellcheck (the tests check
# the shell scripts with it). Debian's kubernetes-client is NOT installed:
# it would conflict with the kubectl already on the machine.
set -euo pipefail

packages=(
  etcd-server etcd-client
  containerd runc containernetworking-plugins
  iptables conntrack
  busybox-static
  protobuf-compiler
  docker-registry
  curl jq tmux iproute2 util-linux
  socat shellcheck
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
# The Debian packages start services of their own; the project runs private instances.
for svc in etcd containerd docker-registry; do
  systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
echo "install-deps: done"
