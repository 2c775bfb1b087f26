#!/usr/bin/env bash
# Provisions one Vagrant VM (Debian 12) of the multi-node cluster (see the Vagrantfile):
#
#   vagrant/provision.sh ROLE NAME IP CP_IP
#
# ROLE is control-plane or node. It installs the Debian packages (hack/install-deps.sh),
# copies the binaries built on the host (target/release, seen as /vagrant/target/release),
# writes one systemd unit per component with the command lines of vagrant/components.sh
# (the same ones hack/lab.sh runs in its network namespaces), and starts them.
# Re-running it (`vagrant provision`) updates the binaries and units and restarts them.
#
# Env: SRC (the repository, /vagrant), BUILD_DIR ($SRC/target/release), BIN_DIR
# (/usr/local/bin), DATA_DIR (/var/lib/kube), UNIT_DIR (/etc/systemd/system), SYSCTL_DIR
# (/etc/sysctl.d); NO_START=1 installs no package and starts nothing, only writes (how the
# tests run this script, inside a network namespace, without systemd).
set -euo pipefail

role=${1:?usage: provision.sh control-plane|node NAME IP CP_IP}
name=${2:?NAME}
ip=${3:?IP}
cp_ip=${4:?CP_IP}
SRC=${SRC:-/vagrant}
BUILD_DIR=${BUILD_DIR:-$SRC/target/release}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
SYSCTL_DIR=${SYSCTL_DIR:-/etc/sysctl.d}
export BIN_DIR=${BIN_DIR:-/usr/local/bin}
export DATA_DIR=${DATA_DIR:-/var/lib/kube}
export REPO=$SRC NODE_NAME=$name NODE_IP=$ip CP_IP=$cp_ip
case "$role" in
  control-plane) binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl-lite) ;;
  node) binaries=(kubelet kube-proxy kubectl-lite) ;;
  *) echo "unknown role $role: want control-plane or node" >&2; exit 2 ;;
esac

echo "== $name ($role, $ip): packages"
[ -n "${NO_START:-}" ] || bash "$SRC/hack/install-deps.sh"

echo "== $name: binaries"
mkdir -p "$BIN_DIR"
for b in "${binaries[@]}"; do
  [ -x "$BUILD_DIR/$b" ] || { echo "missing $BUILD_DIR/$b: run 'cargo build --release --bins' on the host first" >&2; exit 1; }
  install -m 0755 "$BUILD_DIR/$b" "$BIN_DIR/$b"
done

echo "== $name: configuration"
bash "$SRC/vagrant/components.sh" prepare "$role"
if [ "$role" = node ]; then
  # prepare set it for now; this keeps it across reboots.
  mkdir -p "$SYSCTL_DIR"
  echo "net.ipv4.ip_forward = 1" >"$SYSCTL_DIR/90-kube-lab.conf"
fi

echo "== $name: systemd units"
units=()
while IFS= read -r unit; do units+=("$(basename "$unit")"); done < <(bash "$SRC/vagrant/components.sh" units "$role" "$UNIT_DIR")
printf '   %s\n' "${units[@]}"
if [ -n "${NO_START:-}" ]; then
  exit 0
fi
systemctl daemon-reload
for unit in "${units[@]}"; do
  systemctl enable "$unit" >/dev/null 2>&1
  systemctl restart "$unit"
done
if [ "$role" = control-plane ]; then
  for _ in $(seq 60); do curl -fsS "http://127.0.0.1:8080/readyz" >/dev/null 2>&1 && break; sleep 1; done
  curl -fsS "http://127.0.0.1:8080/readyz" >/dev/null || { journalctl -u lab-kube-apiserver --no-pager | tail -20; exit 1; }
fi
echo "== $name: up (systemctl status 'lab-*')"
