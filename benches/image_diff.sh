#!/usr/bin/env bash
# `sealer diff IMAGE IMAGE` against `diff -r` of the two rootfs unpacked
# (issue 15 benchmark).
#
# Workload: a base ClusterImage of ~SIZE_MB MB (FROM scratch / COPY . .):
#           1 MiB files of random bytes under statics/ and 200 small config
#           files under etc/; an override FROM it that COPYs 3 changed small
#           files and 1 new one into etc/ (one more layer of a few KB).
# Peers:    `sealer diff base over` (reads the layer indexes; skips what both
#           images share as the same layer entries) against `diff -r A B` of
#           the two rootfs unpacked to directories beforehand (`sealer mount`
#           + `cp -a`, untimed), which reads every byte of both trees.
#           Page cache dropped before every run when root (COLD=0: warm).
# Measures: median wall time, and bytes read by the process and its children
#           (/proc/PID/io of a wrapping shell: rchar = read(2) bytes,
#           read_bytes = from the block device, with the page cache dropped
#           this includes the pages of the programs themselves loaded on
#           start, most of sealer's figure).
# Ratio:    sealer / diff -r; below 1.0 is faster than the peer.
#
#   benches/image_diff.sh                     # SIZE_MB=1000 RUNS=3 by default
#   SIZE_MB=100 RUNS=1 SEALER=target/release/sealer benches/image_diff.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

SIZE_MB=${SIZE_MB:-1000}
RUNS=${RUNS:-3}
COLD=${COLD:-1}
[ "$(id -u)" = 0 ] || COLD=0

work=$(mktemp -d "${TMPDIR:-/tmp}/sealer-image-diff-bench.XXXXXX")
mnt=$work/mnt
cleanup() {
    [ -n "${sealer:-}" ] && "$sealer" --root "$work/store" umount "$mnt" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${SEALER:-}" ]; then
    sealer=$SEALER
else
    echo "== building sealer (cargo build --release)"
    (cd "$repo" && cargo build --release --quiet --bin sealer)
    sealer="${CARGO_TARGET_DIR:-$repo/target}/release/sealer"
fi
store=$work/store

echo "== making base (~$SIZE_MB MB) and override images"
ctx=$work/base
mkdir -p "$ctx/statics" "$ctx/etc"
for i in $(seq 1 "$SIZE_MB"); do
    head -c 1M /dev/urandom >"$ctx/statics/blob-$i.bin"
done
for i in $(seq 1 200); do
    printf 'key: value-%s\nline: 2\nline: 3\n' "$i" >"$ctx/etc/conf-$i.yaml"
done
printf 'FROM scratch\nCOPY . .\n' >"$ctx/Kubefile"
"$sealer" --root "$store" build -t bench/base:v1 "$ctx" >/dev/null 2>&1
over=$work/over
mkdir -p "$over"
for i in 1 2 3; do
    printf 'key: changed-%s\nline: 2\nline: 3\n' "$i" >"$over/conf-$i.yaml"
done
printf 'new: file\n' >"$over/new.yaml"
printf 'FROM bench/base:v1\nCOPY conf-1.yaml conf-2.yaml conf-3.yaml new.yaml etc/\n' >"$over/Kubefile"
"$sealer" --root "$store" build -t bench/over:v1 "$over" >/dev/null 2>&1
rm -rf "$ctx" "$over"

echo "== unpacking both rootfs for diff -r (sealer mount + cp -a)"
for name in base over; do
    mkdir -p "$mnt"
    "$sealer" --root "$store" mount "bench/$name:v1" "$mnt" >/dev/null
    cp -a "$mnt/." "$work/$name"
    "$sealer" --root "$store" umount "$mnt" >/dev/null
done
unpacked=$(du -sb "$work/base" | awk '{ print $1 }')

# diff's exit status 1 means "different", which is the expected answer.
sealer_cmd="'$sealer' --root '$store' diff bench/base:v1 bench/over:v1 >/dev/null; [ \$? = 1 ]"
diff_cmd="diff -r '$work/base' '$work/over' >/dev/null; [ \$? = 1 ]"
prepare=true
[ "$COLD" = 1 ] && prepare="sync; echo 3 >/proc/sys/vm/drop_caches"

echo "== what each prints"
"$sealer" --root "$store" diff bench/base:v1 bench/over:v1 || true
diff -r "$work/base" "$work/over" | head -5 || true

# io BASH_CMD: "rchar read_bytes" of the command and its children.
io() {
    bash -c "$prepare" >/dev/null 2>&1
    bash -c "$1; awk '/^rchar|^read_bytes/ { printf \"%s \", \$2 } END { print \"\" }' /proc/\$\$/io"
}
read -r s_rchar s_read < <(io "$sealer_cmd")
read -r d_rchar d_read < <(io "$diff_cmd")

echo "== timing ($([ "$COLD" = 1 ] && echo "cold page cache" || echo "warm page cache"))"
time_pair "$RUNS" "$prepare" "sealer diff" "$sealer_cmd" "diff -r" "$diff_cmd"

mib() { awk -v b="$1" 'BEGIN { if (b < 1048576) printf "%.1f KiB", b / 1024; else printf "%.1f MiB", b / 1048576 }'; }
cat <<EOF

## Image diff benchmark (benches/image_diff.sh)

Workload: base of $SIZE_MB x 1 MiB random files + 200 small files ($(mib "$unpacked") unpacked),
override COPYing 3 changed and 1 new small file. Page cache: $([ "$COLD" = 1 ] && echo "dropped before every run" || echo "warm").
Machine: $(machine). Timer: $TIMER.

| measure | sealer diff | diff -r (unpacked) | ratio |
| --- | --- | --- | --- |
| wall time | $(awk -v a="$MEDIAN_A" 'BEGIN { printf "%.3f", a }') s | $(awk -v a="$MEDIAN_B" 'BEGIN { printf "%.3f", a }') s | $(awk -v a="$MEDIAN_A" -v b="$MEDIAN_B" 'BEGIN { printf "%.3f", a / b }') |
| bytes read (rchar) | $(mib "$s_rchar") | $(mib "$d_rchar") | |
| bytes from disk (read_bytes) | $(mib "$s_read") | $(mib "$d_read") | |
EOF
