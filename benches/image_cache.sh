#!/usr/bin/env bash
# Caching container images into registry/ at build time (issue 9 benchmark;
# goals: the extra time of `sealer build` over `--build-mode lite` <= 1.0x
# `skopeo copy docker://... dir:` of the same images; a rebuild that adds one
# image downloads that image only).
#
# Workload: 8 container images of 3 gzip layers each, pushed by `sealer push`
#           to a local docker-registry: one 8 MB base layer shared by all, two
#           unique layers of random bytes (incompressible, as real layers
#           mostly are after gzip), ~SIZE_MB MB compressed in all; a 9th
#           image of ~20 MB for the rebuild. The ClusterImage: FROM scratch,
#           COPY . . of a context whose manifests/imageList names the 8.
# Peers:    `sealer build` vs `sealer build --build-mode lite` (the extra is
#           the image cache: resolve, download, verify, write the layer into
#           the store, index it, fsync), against `skopeo copy
#           docker://REG/IMG dir:DIR` of the 8 images one after the other
#           (skopeo fetches the layers of one image in parallel; verifies
#           digests; writes each blob once). Fresh store / dir every run.
# Ratio:    (build - lite) / skopeo; below 1.0 is faster than the peer.
#
#   benches/image_cache.sh                  # SIZE_MB=500 RUNS=3 by default
#   SEALER=path/to/sealer benches/image_cache.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

SIZE_MB=${SIZE_MB:-500}
RUNS=${RUNS:-3}
IMAGES=8
for tool in docker-registry skopeo python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing: apt-get install $tool" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/sealer-image-cache-bench.XXXXXX")
reg_pid=
cleanup() {
    [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

build_sealer "$repo"
sealer=$SEALER_BIN

echo "== starting docker-registry"
start_registry "$work" true
reg_pid=$REG_PID reg=$REG

echo "== making $IMAGES images of ~$((SIZE_MB / IMAGES)) MB and one extra, pushing them with sealer push"
maker=$work/maker
per=$(((SIZE_MB - 8) / IMAGES / 2))
mkdir -p "$work/base"
head -c 8M /dev/urandom >"$work/base/base.bin"
printf 'FROM scratch\nCOPY base.bin /\n' >"$work/base/Kubefile"
"$sealer" --root "$maker" build -t bench/base:v1 "$work/base" >/dev/null 2>&1
make_image() { # NAME MB
    local ctx=$work/img-ctx
    rm -rf "$ctx" && mkdir -p "$ctx"
    head -c "$(($2 / 2))M" /dev/urandom >"$ctx/a.bin"
    head -c "$(($2 - $2 / 2))M" /dev/urandom >"$ctx/b.bin"
    printf 'FROM bench/base:v1\nCOPY a.bin /\nCOPY b.bin /opt/\n' >"$ctx/Kubefile"
    "$sealer" --root "$maker" build -t "$reg/$1" "$ctx" >/dev/null 2>&1
    "$sealer" --root "$maker" push -q "$reg/$1" >/dev/null
}
list=
for i in $(seq 1 "$IMAGES"); do
    make_image "bench/app-$i:v1" "$((per * 2))"
    list="$list$reg/bench/app-$i:v1"$'\n'
done
make_image bench/extra:v1 20
rm -rf "$maker" "$work/img-ctx" "$work/base"
pushed=$(du -sb "$work/regdata/docker/registry/v2/blobs" | awk '{ print $1 }')
# The extra image's blobs, and those of them no cached image has (its base
# layer is the shared one): what a rebuild adding it should download.
skopeo inspect --raw --tls-verify=false "docker://$reg/bench/extra:v1" >"$work/extra.json"
skopeo inspect --raw --tls-verify=false "docker://$reg/bench/app-1:v1" >"$work/app1.json"
read -r extra_bytes extra_new extra_new_blobs < <(python3 - "$work/extra.json" "$work/app1.json" <<'PY'
import json, sys
m, other = (json.load(open(p)) for p in sys.argv[1:3])
blobs = [m["config"]] + m["layers"]
held = {b["digest"] for b in [other["config"]] + other["layers"]}
new = [b for b in blobs if b["digest"] not in held]
print(sum(b["size"] for b in blobs), sum(b["size"] for b in new), len(new))
PY
)

ctx=$work/ctx
mkdir -p "$ctx/manifests" "$ctx/etc"
printf '%s' "$list" >"$ctx/manifests/imageList"
printf 'apiVersion: v1\nkind: Cluster\n' >"$ctx/etc/Clusterfile"
printf 'FROM scratch\nCOPY . .\n' >"$ctx/Kubefile"
store=$work/store

echo "== build vs build --build-mode lite (fresh store every run)"
time_pair "$RUNS" "rm -rf '$store'" \
    "sealer build" "'$sealer' --root '$store' build -t k8s:v1 '$ctx'" \
    "sealer build --build-mode lite" "'$sealer' --root '$store' build --build-mode lite -t k8s:v1 '$ctx'"
full=$MEDIAN_A lite=$MEDIAN_B timer=$TIMER

echo "== build vs skopeo copy of the same images (fresh store / dir every run)"
copies="mkdir -p $work/dirs &&"
for i in $(seq 1 "$IMAGES"); do
    copies="$copies skopeo copy -q --src-tls-verify=false docker://$reg/bench/app-$i:v1 dir:$work/dirs/$i &&"
done
time_pair "$RUNS" "rm -rf '$store' '$work/dirs'" \
    "sealer build" "'$sealer' --root '$store' build -t k8s:v1 '$ctx'" \
    "skopeo copy x$IMAGES" "${copies} true"
full2=$MEDIAN_A skopeo=$MEDIAN_B

echo "== rebuild adding one image"
rm -rf "$store"
"$sealer" --root "$store" build -t k8s:v1 "$ctx" >/dev/null 2>&1
printf '%s\n' "$reg/bench/extra:v1" >"$work/extra.txt"
before=$(grep -c '"GET /v2/[^ ]*/blobs/' "$work/reg.log" || true)
rebuilt=$("$sealer" --root "$store" build -t k8s:v2 --image-list "$work/extra.txt" "$ctx" 2>&1)
after=$(grep -c '"GET /v2/[^ ]*/blobs/' "$work/reg.log" || true)
downloaded=$(echo "$rebuilt" | sed -n 's/.*---> downloaded \(.*\), copied.*/\1/p')

r2() { awk -v a="$1" 'BEGIN { printf "%.2f", a }'; }
extra=$(awk -v f="$full" -v l="$lite" 'BEGIN { print f - l }')
extra2=$(awk -v f="$full2" -v l="$lite" 'BEGIN { print f - l }')
cat <<EOF

## Image cache benchmark (benches/image_cache.sh)

Workload: $IMAGES container images (3 gzip layers each: one 8 MB layer shared by all,
two unique layers of random bytes), $((pushed / 1000000)) MB compressed in a local Debian
docker-registry on 127.0.0.1 (with a 9th ~20 MB image), named in manifests/imageList
of a FROM scratch / COPY . . ClusterImage. Machine: $(machine).
Timer: $timer. skopeo $(skopeo --version | awk '{ print $3 }').

| measure | sealer | peer | ratio |
| --- | --- | --- | --- |
| build, image cache on | $(r2 "$full") s | build --build-mode lite: $(r2 "$lite") s | extra $(r2 "$extra") s |
| extra time of the image cache (2nd pairing) | $(r2 "$extra2") s | skopeo copy docker:// dir: of the $IMAGES images: $(r2 "$skopeo") s | $(awk -v a="$extra2" -v b="$skopeo" 'BEGIN { printf "%.2f", a / b }') |
| rebuild adding one image: downloaded | $downloaded in $((after - before)) blob GETs | that image: $extra_bytes bytes; its $extra_new_blobs blobs no cached image has: $extra_new bytes ($(awk -v b="$extra_new" 'BEGIN { printf "%.1f MiB", b / 1048576 }')) | |
EOF
