#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs to build and to run real nodes:
# containerd + runc (the container runtime), the CNI plugins (pod networking),
# busybox-static (the one binary our local images are made of), protoc (to compile the CRI
# and etcd protos), iptables/conntrack (kube-proxy), the distribution registry (local pulls)
# and etcd. Idempotent: apt is skipped when everything is already installed.
# NOT kubernetes-client: Debian's kubectl conflicts with the reference kubectl.
set -euo pipefail

packages=(
  containerd runc containernetworking-plugins busybox-static protobuf-compiler
  iptables conntrack docker-registry etcd-server etcd-client curl iproute2 util-linux
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "all packages present: ${packages[*]}"
  exit 0
fi
echo "installing: ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
