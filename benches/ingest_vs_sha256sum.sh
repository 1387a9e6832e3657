#!/usr/bin/env bash
# Ingest throughput against sha256sum (issue 2 benchmark; target >= 0.8x).
#
# Workload: a ~1 GiB tar of 8 big random files, in the page cache (warm).
# Peers:    `sha256sum FILE` (GNU coreutils) vs sealer's layer ingest of the
#           same file: sha256 + tar index in one pass, copy into the store's
#           tmp/, fsync, rename to blobs/sha256/<hex>, write the index
#           (examples `ingest_layer`, built from benches/bin/ingest_layer.rs).
#           Each ingest run starts from an empty store. For reference only,
#           `openssl dgst -sha256 FILE` (hardware SHA where the CPU has it).
# Ratio:    time(sha256sum) / time(ingest) = ingest throughput as a fraction
#           of sha256sum's.
#
#   benches/ingest_vs_sha256sum.sh            # SIZE_MIB=1024 RUNS=5 by default
#   SIZE_MIB=256 RUNS=3 benches/ingest_vs_sha256sum.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-5}
FILES=8

work=$(mktemp -d "${TMPDIR:-/tmp}/sealer-ingest-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== building the ingest helper (cargo build --release --example ingest_layer)"
(cd "$repo" && cargo build --release --quiet --example ingest_layer)
ingest="${CARGO_TARGET_DIR:-$repo/target}/release/examples/ingest_layer"

echo "== generating a ${SIZE_MIB} MiB tar of $FILES random files in $work"
mkdir "$work/tree"
for ((i = 0; i < FILES; i++)); do
    head -c "$((SIZE_MIB / FILES))M" /dev/urandom >"$work/tree/blob-$i.bin"
done
tar -cf "$work/layer.tar" -C "$work/tree" .
rm -rf "$work/tree"
bytes=$(stat -c %s "$work/layer.tar")
cat "$work/layer.tar" >/dev/null # warm the page cache

want=$(sha256sum "$work/layer.tar" | awk '{ print $1 }')
got=$("$ingest" "$work/store" "$work/layer.tar")
echo "ingest: $got"
case "$got" in
*"sha256:$want"*) ;;
*) echo "error: ingest digest differs from sha256sum's ($want)" >&2; exit 1 ;;
esac

echo "== timing"
time_pair "$RUNS" "rm -rf '$work/store'" \
    "sha256sum" "sha256sum '$work/layer.tar'" \
    "sealer ingest" "'$ingest' '$work/store' '$work/layer.tar'"

# Reference, not the target's peer: OpenSSL's SHA-256, which uses the CPU's
# SHA extensions where it has them (as the sha2 crate in sealer does) while
# coreutils' sha256sum is portable C.
ossl=0
if command -v openssl >/dev/null; then
    ossl=$(time_loop "$RUNS" true "openssl dgst -sha256 '$work/layer.tar'")
fi

awk -v b="$bytes" -v a="$MEDIAN_A" -v i="$MEDIAN_B" -v o="$ossl" -v m="$(machine)" -v t="$TIMER" -v f="$FILES" 'BEGIN {
    printf "\n== ingest vs sha256sum\n"
    printf "workload: %.0f MiB tar of %d random files, warm page cache\n", b / 1048576, f
    printf "machine:  %s\n", m
    printf "timer:    %s\n", t
    printf "sha256sum:      %7.3f s  %7.0f MiB/s\n", a, b / 1048576 / a
    printf "sealer ingest:  %7.3f s  %7.0f MiB/s  (hash + index + copy + fsync + rename)\n", i, b / 1048576 / i
    printf "ratio (ingest throughput / sha256sum throughput): %.2fx (target >= 0.8x)\n", a / i
    if (o > 0) {
        printf "reference: openssl dgst -sha256 %.3f s  %.0f MiB/s (date loop, median of the same number of runs);", o, b / 1048576 / o
        printf " ingest / openssl: %.2fx\n", o / i
    }
}'
