#!/usr/bin/env bash
# Builds the project's local container images from Debian's statically linked busybox and,
# given a containerd socket, imports them into its `k8s.io` namespace (the one the CRI uses).
#
#   hack/build-images.sh [OUT_DIR] [CONTAINERD_SOCKET]
#
# No registry on the internet is reachable here, so every image a seed uses is made from
# busybox: `pause` (the sandbox image: sleeps forever), `busybox`, and `hello` (busybox httpd
# answering "My hostname is ...", like tutum/hello-world; also named nginx, seed 000's web
# server). Each image is an OCI image layout (oci-layout, index.json, blobs/sha256/...) in a
# tar file; the name containerd gives it comes from the `io.containerd.image.name`
# annotation in index.json. Layers are built with fixed mtimes and owners, so the digests
# are the same on every run: re-running is harmless.
set -euo pipefail

out=${1:-/tmp/kube-images}
sock=${2:-}
busybox=/bin/busybox
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# blob FILE LAYOUT_DIR: stores FILE under blobs/sha256/<digest>, prints "<digest> <size>".
blob() {
  local digest size
  digest=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  cp "$1" "$2/blobs/sha256/$digest"
  echo "$digest $size"
}

# rootfs DIR: busybox with a symlink per applet, /etc/passwd, /tmp.
rootfs() {
  mkdir -p "$1/bin" "$1/etc" "$1/tmp" "$1/root"
  cp "$busybox" "$1/bin/busybox"
  for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$1/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$1/etc/group"
  chmod 1777 "$1/tmp"
}

# image NAME ENTRYPOINT_JSON CMD_JSON EXTRA_SETUP_FN "REF1 REF2 ...": builds $out/NAME.tar.
image() {
  local name=$1 entrypoint=$2 cmd=$3 setup=$4 refs=$5
  local root="$work/$name/rootfs" layout="$work/$name/layout"
  mkdir -p "$root" "$layout/blobs/sha256"
  rootfs "$root"
  $setup "$root"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/$name/layer.tar" .
  read -r layer_digest layer_size < <(blob "$work/$name/layer.tar" "$layout")

  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$entrypoint" "$cmd" "$layer_digest" >"$work/$name/config.json"
  read -r config_digest config_size < <(blob "$work/$name/config.json" "$layout")

  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$work/$name/manifest.json"
  read -r manifest_digest manifest_size < <(blob "$work/$name/manifest.json" "$layout")

  # One index entry per name: containerd creates one image record for each.
  local entries="" ref
  for ref in $refs; do
    [ -z "$entries" ] || entries="$entries,"
    entries="$entries$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}' \
      "$manifest_digest" "$manifest_size" "$ref" "${ref##*:}")"
  done
  printf '{"schemaVersion":2,"manifests":[%s]}' "$entries" >"$layout/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$out/$name.tar" .
  echo "built $out/$name.tar: $refs"
}

no_setup() { :; }

# The hello page is a CGI script: busybox httpd runs /cgi-bin/index.cgi for "/" when there
# is no index.html, so every request answers with the container's (the pod's) hostname.
hello_setup() {
  mkdir -p "$1/www/cgi-bin" "$1/var/log/nginx"
  cat >"$1/www/cgi-bin/index.cgi" <<'CGI'
#!/bin/sh
echo "Content-Type: text/html"
echo ""
echo "<html><head><title>Hello world!</title></head><body>"
echo "<h1>Hello world!</h1>"
echo "<h3>My hostname is $(hostname)</h3>"
echo "</body></html>"
CGI
  chmod 755 "$1/www/cgi-bin/index.cgi"
}

image pause '["/bin/sleep"]' '["2147483647"]' no_setup "registry.k8s.io/pause:3.9"
image busybox 'null' '["sh"]' no_setup "docker.io/library/busybox:latest"
image hello '["/bin/httpd","-f","-p","80","-h","/www"]' 'null' hello_setup \
  "docker.io/library/hello:latest docker.io/library/nginx:latest docker.io/tutum/hello-world:latest docker.io/zwindler/vhelloworld:latest"

if [ -n "$sock" ]; then
  for name in pause busybox hello; do
    ctr --address "$sock" -n k8s.io images import "$out/$name.tar" >/dev/null
  done
  ctr --address "$sock" -n k8s.io images ls -q
fi
