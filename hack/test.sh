#!/usr/bin/env bash
# The whole test suite: install what is missing, build every binary (the end-to-end tests
# start them), then run the unit tests and the end-to-end tests on real etcd (and, where a
# test needs them, real containerd, runc, CNI plugins and iptables inside network
# namespaces the tests create).
set -euo pipefail
cd "$(dirname "$0")/.."

bash hack/install-deps.sh
cargo build --workspace --bins --examples
cargo test --workspace --no-fail-fast "$@"
