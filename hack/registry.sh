#!/usr/bin/env bash
# A local image registry, so that the kubelet really pulls — as an air-gapped cluster does —
# under the names the seeds use (`busybox`, `nginx`, `tutum/hello-world`, ...).
#
#   hack/registry.sh fill    DATA_DIR IMAGES_DIR      # push the images of build-images.sh
#   hack/registry.sh serve   DATA_DIR [ADDR]          # start a registry on ADDR (127.0.0.1:5000)
#   hack/registry.sh mirrors CERTS_DIR [ADDR]         # point containerd's docker.io and
#                                                     # registry.k8s.io at it
#   hack/registry.sh up      DIR IMAGES_DIR CERTS_DIR # all three (DIR/data, DIR/registry.pid)
#   hack/registry.sh config  DATA_DIR ADDR FILE       # only write the registry's config, for
#                                                     # `docker-registry serve FILE` (a unit)
#
# The registry is Debian's `docker-registry` (the CNCF distribution registry 2.8): one
# process, `docker-registry serve CONFIG`, storing blobs under DATA_DIR. `fill` runs one on
# a free loopback port just long enough to push every image with curl (the registry HTTP API:
# upload each blob, then PUT the manifest under each name in the image's index.json), so no
# containerd is needed to fill it. Names map as docker does: `docker.io/library/busybox:latest`
# is repository `library/busybox`, tag `latest`; `registry.k8s.io/pause:3.9` is `pause:3.9`.
#
# A filled DATA_DIR can be served by several registries at once (they only read it), which
# is how tests stay cheap: fill once, then `serve` inside each test's network namespace,
# where 127.0.0.1:5000 is that namespace's own loopback.
#
# `mirrors` writes containerd's per-registry `hosts.toml` files (its CRI `config_path`, see
# hack/containerd.sh): both the mirror and the fallback `server` are the local registry over
# plain HTTP, so no pull ever leaves the machine, and an image that is in no registry fails
# with containerd's own "not found" error (ErrImagePull, then ImagePullBackOff).
set -euo pipefail

default_addr=127.0.0.1:5000

config() { # DATA_DIR ADDR CONFIG_FILE
  cat >"$3" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $1
  delete:
    enabled: true
http:
  addr: $2
YAML
}

# serve DATA_DIR ADDR: starts the registry in the background, waits for /v2/, prints its pid.
serve() {
  local data addr
  data=$(realpath -m "$1") addr=${2:-$default_addr}
  mkdir -p "$data"
  config "$data" "$addr" "$data.yml"
  nohup docker-registry serve "$data.yml" >>"$data.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do
    curl -fs -o /dev/null "http://$addr/v2/" && { echo "$pid"; return; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "registry did not answer on $addr; see $data.log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
}

# push_layout LAYOUT_DIR ADDR: uploads every blob, then the manifest under each name.
push_layout() {
  local layout=$1 addr=$2
  jq -r '.manifests[] | "\(.digest) \(.mediaType) \(.annotations["io.containerd.image.name"])"' "$layout/index.json" |
    while read -r manifest_digest media_type name; do
      local repo tag rest
      rest=${name#*/}                  # docker.io/library/busybox:latest -> library/busybox:latest
      repo=${rest%:*} tag=${rest##*:}
      for blob in "$layout"/blobs/sha256/*; do
        local digest location
        digest=sha256:$(basename "$blob")
        [ "$digest" = "$manifest_digest" ] && continue
        curl -fs -o /dev/null -I "http://$addr/v2/$repo/blobs/$digest" && continue
        location=$(curl -fsS -X POST -D - -o /dev/null "http://$addr/v2/$repo/blobs/uploads/" |
          tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
        case "$location" in http*) ;; *) location="http://$addr$location" ;; esac
        curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$blob" \
          "$location&digest=$digest" -o /dev/null
      done
      curl -fsS -X PUT -H "Content-Type: $media_type" \
        --data-binary "@$layout/blobs/sha256/${manifest_digest#sha256:}" \
        "http://$addr/v2/$repo/manifests/$tag" -o /dev/null
      echo "pushed $name"
    done
}

# fill DATA_DIR IMAGES_DIR: pushes every IMAGES_DIR/*.tar through a short-lived registry.
fill() {
  local data=$1 images=$2 port pid work
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  pid=$(serve "$data" "127.0.0.1:$port")
  work=$(mktemp -d)
  trap 'kill '"$pid"' 2>/dev/null || true; rm -rf '"$work" RETURN
  for tar in "$images"/*.tar; do
    mkdir -p "$work/$(basename "$tar" .tar)"
    tar -C "$work/$(basename "$tar" .tar)" -xf "$tar"
    push_layout "$work/$(basename "$tar" .tar)" "127.0.0.1:$port"
  done
}

# mirrors CERTS_DIR ADDR: containerd's hosts.toml for docker.io and registry.k8s.io.
mirrors() {
  local certs=$1 addr=${2:-$default_addr} registry
  for registry in docker.io registry.k8s.io; do
    mkdir -p "$certs/$registry"
    cat >"$certs/$registry/hosts.toml" <<TOML
server = "http://$addr"

[host."http://$addr"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
TOML
  done
}

cmd=${1:?usage: registry.sh fill|serve|mirrors|up ...}
case "$cmd" in
  fill) fill "${2:?DATA_DIR}" "${3:?IMAGES_DIR}" ;;
  serve) serve "${2:?DATA_DIR}" "${3:-}" ;;
  mirrors) mirrors "${2:?CERTS_DIR}" "${3:-}" ;;
  config) config "$(realpath -m "${2:?DATA_DIR}")" "${3:?ADDR}" "${4:?FILE}" ;;
  up)
    dir=$(realpath -m "${2:?DIR}")
    [ -d "$dir/data/docker" ] || fill "$dir/data" "${3:?IMAGES_DIR}"
    serve "$dir/data" >"$dir/registry.pid"
    mirrors "${4:?CERTS_DIR}"
    echo "registry on http://$default_addr (pid $(cat "$dir/registry.pid"))"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
