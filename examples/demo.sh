#!/usr/bin/env bash
# The seed workflow on the bundled example, in a throwaway store: build the
# base ClusterImage (FROM scratch / COPY . .), override etc/daemon.json with a
# two-line Kubefile, list, inspect and read it without unpacking, then mount
# it and the layer view (FUSE; run as root), and clean up.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet
root=$(mktemp -d /tmp/sealer-demo.XXXXXX)
mnt=$(mktemp -d /tmp/sealer-demo-rootfs.XXXXXX)
sealer() { target/release/sealer --root "$root" "$@"; }
cleanup() {
    sealer umount "$mnt" >/dev/null 2>&1 || true
    sealer umount --layers >/dev/null 2>&1 || true
    rm -rf "$root" "$mnt"
}
trap cleanup EXIT
step() { printf '\n\033[1m$ sealer %s\033[0m\n' "$*"; sealer "$@"; }

step build -t kubernetes:v1.19.8 examples/cluster-rootfs
step build -t my-k8s:v1.19.8 -f examples/override/Kubefile examples/override
step images
step inspect my-k8s:v1.19.8
step ls -l my-k8s:v1.19.8 etc
step cat my-k8s:v1.19.8 etc/daemon.json
step mount my-k8s:v1.19.8 "$mnt"
printf '\n$ ls -l %s/etc\n' "$mnt"; ls -l "$mnt/etc"
step mount
step umount "$mnt"
step mount --layers
layer=$(sealer inspect --format json my-k8s:v1.19.8 | sed -n 's/.*"id": "sha256:\([0-9a-f]\{64\}\)".*/\1/p' | tail -1)
printf '\n$ ls %s/data/overlay2/%s/etc\n' "$root" "$layer"; ls "$root/data/overlay2/$layer/etc"
step umount --layers
