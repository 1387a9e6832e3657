#!/usr/bin/env bash
# Push and pull of one ~500 MB ClusterRootfs-like image to the same local
# registry, sealer against skopeo in the same run; save/load throughput
# (issue 5 benchmark; goal: sealer <= 1.0x skopeo's time).
#
# Workload: a ClusterRootfs of 4 layers built by `sealer build`
#           (COPY bin, images, registry, rest): bin/ = real binaries and
#           libraries copied from /usr (compressible, ~35%), images/ and
#           registry/ = random bytes (incompressible, as the gzip blobs of
#           container images and of a registry are), ~500 MB in all.
# Registry: Debian's docker-registry on 127.0.0.1 (filesystem storage,
#           emptied before every push run).
# Peers:    push: `sealer push` (gzip, 3 layers at once)
#                 vs `skopeo copy oci:<our store>:IMG docker://...` (gzip);
#           pull: `sealer pull` (gunzip + verify + index into the store)
#                 vs `skopeo copy docker://... oci:DIR` (keeps gzip), and
#                 vs the same with --dest-decompress (gunzips, as we do);
#           save: `sealer save` vs `skopeo copy oci:<store>:IMG oci-archive:F`;
#           load: `sealer load -i F` vs `skopeo copy oci-archive:F oci:DIR`.
# Ratio:    time(sealer) / time(peer); below 1.0 is faster than the peer.
#
#   benches/registry_push_pull.sh          # SIZE_MB=500 RUNS=3 by default
#   SEALER=path/to/sealer benches/registry_push_pull.sh   # a prebuilt binary
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

SIZE_MB=${SIZE_MB:-500}
RUNS=${RUNS:-3}
for tool in docker-registry skopeo; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing: apt-get install $tool" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/sealer-registry-bench.XXXXXX")
reg_pid=
cleanup() {
    [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

build_sealer "$repo"
sealer=$SEALER_BIN

echo "== generating a ~${SIZE_MB} MB ClusterRootfs in $work/ctx"
ctx=$work/ctx
mkdir -p "$ctx"/{bin,images,registry,etc,scripts,statics}
bin_mb=$((SIZE_MB * 30 / 100))
img_mb=$((SIZE_MB * 30 / 100))
reg_mb=$((SIZE_MB - bin_mb - img_mb))
# Real executables and libraries, as bin/ holds kubelet, kubeadm, containerd.
find /usr/lib /usr/bin /usr/libexec /root/.rustup -type f -size +200k 2>/dev/null |
    while read -r f; do
        used=$(du -sm "$ctx/bin" | awk '{ print $1 }')
        [ "$used" -ge "$bin_mb" ] && break
        cp "$f" "$ctx/bin/$(echo "$f" | tr / _)" 2>/dev/null || true
    done || true # find dies of SIGPIPE once enough is copied
for i in 0 1 2 3; do head -c "$((img_mb / 4))M" /dev/urandom >"$ctx/images/image-$i.tar.gz"; done
for i in $(seq 0 9); do head -c "$((reg_mb / 10))M" /dev/urandom >"$ctx/registry/blob-$i"; done
printf 'apiVersion: v1\nkind: Cluster\n' >"$ctx/etc/Clusterfile"
printf '#!/bin/sh\necho init\n' >"$ctx/scripts/init.sh"
echo "version: v1.19.8" >"$ctx/Metadata"
cat >"$ctx/Kubefile" <<'EOF'
FROM scratch
COPY bin bin
COPY images images
COPY registry registry
COPY etc etc
COPY scripts scripts
COPY Metadata .
EOF
store=$work/store
image=bench/k8s:v1.19.8
"$sealer" --root "$store" build -q -t "$image" "$ctx" >/dev/null 2>&1 ||
    "$sealer" --root "$store" build -t "$image" "$ctx" >/dev/null
rm -rf "$ctx"
size=$("$sealer" --root "$store" images --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["size"])')
layers=$("$sealer" --root "$store" inspect --format json "$image" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["spec"]["layers"]))')
echo "image: $image, $size bytes uncompressed"

echo "== starting docker-registry"
start_registry "$work" false
reg_pid=$REG_PID reg=$REG

empty_registry="rm -rf '$work/regdata/docker' '$store/compressed'"

echo "== push (registry emptied before every run)"
time_pair "$RUNS" "$empty_registry" \
    "sealer push" "'$sealer' --root '$store' push -q '$image' '$reg/bench/ours:v1'" \
    "skopeo copy" "skopeo copy -q --dest-tls-verify=false 'oci:$store:$image' 'docker://$reg/bench/skopeo:v1'"
push_ours=$MEDIAN_A push_skopeo=$MEDIAN_B push_timer=$TIMER

# The image to pull: pushed once by sealer (gzip layers, OCI manifest).
bash -c "$empty_registry"
"$sealer" --root "$store" push -q "$image" "$reg/bench/pull:v1" >/dev/null
pushed=$(du -sb "$work/regdata/docker/registry/v2/blobs" | awk '{ print $1 }')

echo "== pull (empty destination before every run)"
time_pair "$RUNS" "rm -rf '$work/pulled' '$work/oci'" \
    "sealer pull" "'$sealer' --root '$work/pulled' pull -q '$reg/bench/pull:v1'" \
    "skopeo copy" "skopeo copy -q --src-tls-verify=false 'docker://$reg/bench/pull:v1' 'oci:$work/oci:v1'"
pull_ours=$MEDIAN_A pull_skopeo=$MEDIAN_B
time_pair "$RUNS" "rm -rf '$work/pulled' '$work/oci'" \
    "sealer pull" "'$sealer' --root '$work/pulled' pull -q '$reg/bench/pull:v1'" \
    "skopeo copy --dest-decompress" "skopeo copy -q --dest-decompress --src-tls-verify=false 'docker://$reg/bench/pull:v1' 'oci:$work/oci:v1'"
pull_ours2=$MEDIAN_A pull_skopeo_dec=$MEDIAN_B

echo "== save"
time_pair "$RUNS" "rm -f '$work/a.tar' '$work/s.tar'" \
    "sealer save" "'$sealer' --root '$store' save -q -o '$work/a.tar' '$image'" \
    "skopeo copy oci-archive" "skopeo copy -q 'oci:$store:$image' 'oci-archive:$work/s.tar:$image'"
save_ours=$MEDIAN_A save_skopeo=$MEDIAN_B
"$sealer" --root "$store" save -q -o "$work/a.tar" "$image"

echo "== load"
time_pair "$RUNS" "rm -rf '$work/loaded' '$work/oci'" \
    "sealer load" "'$sealer' --root '$work/loaded' load -q -i '$work/a.tar'" \
    "skopeo copy oci-archive" "skopeo copy -q 'oci-archive:$work/a.tar:$image' 'oci:$work/oci:v1'"
load_ours=$MEDIAN_A load_skopeo=$MEDIAN_B

r2() { awk -v a="$1" 'BEGIN { printf "%.2f", a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mbs() { awk -v s="$size" -v t="$1" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }
cat <<EOF

## Registry and archive benchmark (benches/registry_push_pull.sh)

Workload: one ClusterRootfs-like image, $layers layers, $((size / 1000000)) MB uncompressed
(30% real binaries from /usr, 70% incompressible bytes like image and registry
blobs), $((pushed / 1000000)) MB gzip-compressed in the registry. Local Debian docker-registry
on 127.0.0.1. Machine: $(machine). Timer: $push_timer.
skopeo $(skopeo --version | awk '{ print $3 }'), docker-registry $(docker-registry --version | awk '{ print $3 }').

| operation | sealer | peer | peer time | sealer / peer |
| --- | --- | --- | --- | --- |
| push (gzip) | $(r2 "$push_ours") s | skopeo copy oci: -> docker:// | $(r2 "$push_skopeo") s | $(ratio "$push_ours" "$push_skopeo") |
| pull | $(r2 "$pull_ours") s | skopeo copy docker:// -> oci: (keeps gzip) | $(r2 "$pull_skopeo") s | $(ratio "$pull_ours" "$pull_skopeo") |
| pull | $(r2 "$pull_ours2") s | skopeo copy --dest-decompress | $(r2 "$pull_skopeo_dec") s | $(ratio "$pull_ours2" "$pull_skopeo_dec") |
| save (oci-archive) | $(r2 "$save_ours") s ($(mbs "$save_ours") MB/s) | skopeo copy oci: -> oci-archive: | $(r2 "$save_skopeo") s | $(ratio "$save_ours" "$save_skopeo") |
| load | $(r2 "$load_ours") s ($(mbs "$load_ours") MB/s) | skopeo copy oci-archive: -> oci: | $(r2 "$load_skopeo") s | $(ratio "$load_ours" "$load_skopeo") |

sealer's pull also verifies every layer against its diff_id and indexes it
(ready for \`sealer mount\`/\`ls\`); skopeo's oci: destination keeps the blobs as
they came. sealer's load hashes, verifies and indexes every layer too.
EOF
