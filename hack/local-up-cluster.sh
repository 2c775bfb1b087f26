#!/usr/bin/env bash
# Bring up a local cluster, one component per tmux window (upstream's script has the same
# name and job). Each window shows the exact command line at its top, so a learner can copy
# it and run the component by hand.
#
#   hack/local-up-cluster.sh              install what is missing, build, start, wait
#   hack/local-up-cluster.sh --no-tmux    same, processes in the background, logs in files
#   hack/local-up-cluster.sh --down       stop everything this script started, remove its data
#   hack/local-up-cluster.sh --down --keep-data
#
# Today it starts etcd and kube-apiserver (the components that exist); the others join as
# they are built. Everything listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${LOCAL_UP_DIR:-$ROOT/_output/local-up}
SESSION=kube
ETCD_PORT=${ETCD_PORT:-2379}
API_PORT=${API_PORT:-8080}
SERVICE_CIDR=${SERVICE_CIDR:-10.0.0.0/24}

mode=tmux
down=false
keep=false
for arg in "$@"; do
  case "$arg" in
    --no-tmux) mode=background ;;
    --down) down=true ;;
    --keep-data) keep=true ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

stop_all() {
  if command -v tmux >/dev/null && tmux has-session -t "$SESSION" 2>/dev/null; then
    tmux kill-session -t "$SESSION"
    echo "stopped tmux session $SESSION"
  fi
  # Background mode: only the PIDs this script recorded.
  for pidfile in "$OUT"/pids/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" && echo "stopped $(basename "$pidfile" .pid) (pid $pid)"
    fi
    rm -f "$pidfile"
  done
  if ! $keep; then
    rm -rf "$OUT"
    echo "removed $OUT"
  fi
}

if $down; then
  stop_all
  exit 0
fi

bash hack/install-deps.sh
PROFILE=${LOCAL_UP_PROFILE:-release}   # LOCAL_UP_PROFILE=debug builds faster, runs slower
echo "building ($PROFILE)..."
if [ "$PROFILE" = release ]; then cargo build --release --bins -q; else cargo build --bins -q; fi
BIN=$ROOT/target/$PROFILE
mkdir -p "$OUT/logs" "$OUT/pids"

# name|command line
components=(
  "etcd|etcd --name local --data-dir $OUT/etcd-data --listen-client-urls http://127.0.0.1:$ETCD_PORT --advertise-client-urls http://127.0.0.1:$ETCD_PORT --listen-peer-urls http://127.0.0.1:$((ETCD_PORT + 1)) --initial-advertise-peer-urls http://127.0.0.1:$((ETCD_PORT + 1)) --initial-cluster local=http://127.0.0.1:$((ETCD_PORT + 1))"
  "kube-apiserver|$BIN/kube-apiserver --etcd-servers=http://127.0.0.1:$ETCD_PORT --service-cluster-ip-range=$SERVICE_CIDR --insecure-port=$API_PORT"
)

start() {
  local name=$1 cmd=$2
  if [ "$mode" = tmux ]; then
    if ! tmux has-session -t "$SESSION" 2>/dev/null; then
      tmux new-session -d -s "$SESSION" -n shell
    fi
    tmux new-window -d -t "$SESSION" -n "$name" "bash -c 'echo \"\$ $cmd\"; echo; $cmd; echo; echo \"$name exited; press enter\"; read'"
  else
    echo "\$ $cmd" > "$OUT/logs/$name.log"
    nohup $cmd >> "$OUT/logs/$name.log" 2>&1 &
    echo $! > "$OUT/pids/$name.pid"
  fi
  echo "started $name"
}

wait_http() {
  local url=$1 what=$2
  for _ in $(seq 1 100); do
    if curl -fsS "$url" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "$what did not become ready ($url)" >&2
  exit 1
}

for entry in "${components[@]}"; do
  name=${entry%%|*}
  cmd=${entry#*|}
  start "$name" "$cmd"
  case "$name" in
    etcd) wait_http "http://127.0.0.1:$ETCD_PORT/health" etcd ;;
    kube-apiserver) wait_http "http://127.0.0.1:$API_PORT/readyz" kube-apiserver ;;
  esac
done

cat <<MSG

The cluster is up.
  kubectl --server=http://127.0.0.1:$API_PORT get namespaces
  $BIN/kubectl-lite --server=http://127.0.0.1:$API_PORT get namespaces
  curl http://127.0.0.1:$API_PORT/api/v1/namespaces/default/services
  ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:$ETCD_PORT get --prefix /registry --keys-only
MSG
if [ "$mode" = tmux ]; then
  echo "  tmux attach -t $SESSION        (one window per component)"
else
  echo "  logs: $OUT/logs/"
fi
echo "Stop with: hack/local-up-cluster.sh --down"
