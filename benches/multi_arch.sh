#!/usr/bin/env bash
# A two-platform build against the single-platform build of the same
# ClusterRootfs (issue 12 benchmark), and buildah building the same two
# platforms when it is installed (PEER=1 installs Debian's buildah).
#
# Workload: a ClusterRootfs of ~SIZE_MB MB: 80% shared (1 MiB random files
#           under statics/), 20% per architecture (amd64/bin, arm64/bin,
#           1 MiB random files each), built from
#             FROM scratch / COPY statics statics / COPY ${ARCH}/bin bin
#           into an empty store every run (no build cache).
# Measures: median wall time of `sealer build --platform linux/amd64` (one
#           platform) and `--platform linux/amd64,linux/arm64` (two, one
#           index), and the bytes each leaves in the store's blobs/.
# Goals:    two platforms <= 1.3x the time and <= 1.25x the bytes of one
#           (building each platform apart, as sealer and most tools do,
#           costs 2x both).
# Peer:     `buildah build --platform linux/amd64,linux/arm64 --manifest`
#           (vfs storage) of the same build (`${TARGETARCH}` for `${ARCH}`),
#           time and bytes of its storage, when buildah is there.
#
#   benches/multi_arch.sh                      # SIZE_MB=500 RUNS=3 by default
#   SIZE_MB=100 RUNS=1 SEALER=target/release/sealer benches/multi_arch.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

SIZE_MB=${SIZE_MB:-500}
RUNS=${RUNS:-3}
PEER=${PEER:-0}

work=$(mktemp -d "${TMPDIR:-/tmp}/sealer-multi-arch-bench.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

build_sealer "$repo"
sealer=$SEALER_BIN

echo "== making the context (~$SIZE_MB MB, 20% per architecture)"
ctx=$work/ctx
shared=$((SIZE_MB * 8 / 10))
per_arch=$((SIZE_MB - shared))
mkdir -p "$ctx/statics" "$ctx/amd64/bin" "$ctx/arm64/bin"
for i in $(seq 1 "$shared"); do
    head -c 1M /dev/urandom >"$ctx/statics/blob-$i.bin"
done
for arch in amd64 arm64; do
    for i in $(seq 1 "$per_arch"); do
        head -c 1M /dev/urandom >"$ctx/$arch/bin/tool-$i"
    done
done
printf 'FROM scratch\nCOPY statics statics\nCOPY ${ARCH}/bin bin\n' >"$ctx/Kubefile"
# buildah names the architecture TARGETARCH (an ARG to declare).
printf 'FROM scratch\nARG TARGETARCH\nCOPY statics statics\nCOPY ${TARGETARCH}/bin bin\n' >"$ctx/Containerfile"

one="'$sealer' --root '$work/one' build --platform linux/amd64 -t bench/k8s:v1 '$ctx' >/dev/null 2>&1"
two="'$sealer' --root '$work/two' build --platform linux/amd64,linux/arm64 -t bench/k8s:v1 '$ctx' >/dev/null 2>&1"
prepare="rm -rf '$work/one' '$work/two' '$work/buildah'; sync"

echo "== timing"
time_pair "$RUNS" "$prepare" "one platform" "$one" "two platforms" "$two"
t_one=$MEDIAN_A
t_two=$MEDIAN_B
bash -c "$prepare; $one; $two"
b_one=$(du -sb "$work/one/blobs" | awk '{ print $1 }')
b_two=$(du -sb "$work/two/blobs" | awk '{ print $1 }')
"$sealer" --root "$work/two" images

peer_row=""
if [ "$PEER" = 1 ] && ! command -v buildah >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq buildah >/dev/null 2>&1 || true
fi
if command -v buildah >/dev/null; then
    echo "== buildah $(buildah --version | awk '{ print $3 }') (vfs storage)"
    bah="buildah --root '$work/buildah' --runroot '$work/buildah-run' --storage-driver vfs"
    peer="$bah build --quiet --platform linux/amd64,linux/arm64 --manifest bench/k8s:v1 -f '$ctx/Containerfile' '$ctx' >/dev/null 2>&1"
    t0=$(date +%s.%N)
    bash -c "$prepare; $peer" || echo "buildah failed" >&2
    t1=$(date +%s.%N)
    t_peer=$(echo "$t0 $t1" | awk '{ printf "%.3f", $2 - $1 }')
    b_peer=$(du -sb "$work/buildah" | awk '{ print $1 }')
    peer_row="| buildah build --platform a,b --manifest (1 run) | $t_peer s | $(awk -v b="$b_peer" 'BEGIN { printf "%.1f MiB", b / 1048576 }') | $(awk -v a="$t_peer" -v b="$t_one" 'BEGIN { printf "%.2f", a / b }') | $(awk -v a="$b_peer" -v b="$b_one" 'BEGIN { printf "%.2f", a / b }') |"
fi

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
cat <<EOF

## Multi-platform build benchmark (benches/multi_arch.sh)

Workload: ClusterRootfs of $SIZE_MB x 1 MiB random files, $shared MiB shared and $per_arch MiB per
architecture; \`FROM scratch / COPY statics statics / COPY \${ARCH}/bin bin\`, empty store every run.
Machine: $(machine). Timer: $TIMER.

| build | time | bytes stored | time vs one | bytes vs one |
| --- | --- | --- | --- | --- |
| sealer --platform linux/amd64 | $(awk -v a="$t_one" 'BEGIN { printf "%.3f", a }') s | $(mib "$b_one") | 1.00 | 1.00 |
| sealer --platform linux/amd64,linux/arm64 | $(awk -v a="$t_two" 'BEGIN { printf "%.3f", a }') s | $(mib "$b_two") | $(awk -v a="$t_two" -v b="$t_one" 'BEGIN { printf "%.2f", a / b }') | $(awk -v a="$b_two" -v b="$b_one" 'BEGIN { printf "%.2f", a / b }') |
$peer_row
EOF
