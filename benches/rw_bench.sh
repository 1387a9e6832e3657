#!/usr/bin/env bash
# Writable mounts (issue 4 benchmarks): RUN overhead against the base size,
# copy-up and write throughput against fuse-overlayfs and the kernel overlayfs.
#
# Workload 1, `RUN true`: a ClusterRootfs-like base of BIG_GB (default 5)
#           files of 1 GiB from /dev/urandom plus small text files, built as
#           big:v1; the example ClusterRootfs (examples/cluster-rootfs, 196
#           KiB) built as small:v1 in the same store. Timed: `sealer build
#           --no-cache -t r:v1 CTX` with the Kubefile `FROM <base>` / `RUN
#           true` (the whole build: resolve, read-write mount, run, unmount,
#           diff of the upper dir, tag), warm cache, median of RUN_RUNS.
#           Ratio: big base / small base (target: <= 0.2 s and ratio ~1).
# Workload 2, copy-up: the example ClusterRootfs plus images/app.tar, a
#           100 MiB random file, built as cu:v1 and unpacked (`cp -a` of a
#           read-only `sealer mount`) as the lower dir of the peers. Timed:
#           `printf x >> images/app.tar` on a fresh mount (the first write
#           copies the 100 MiB file up), median of RUNS, mount untimed.
# Workload 3, sequential write: `dd if=/dev/zero of=dd.bin bs=1M count=1024`
#           into a fresh mount, with conv=fsync (the data reaches the disk)
#           and without (buffered), median of DD_RUNS.
# Peers:    `sealer mount --rw` (release build, upper dir on the same disk),
#           fuse-overlayfs (Debian) and the kernel's overlayfs, all over the
#           same unpacked tree with their upper dirs under the same temp dir.
#           Ratios are sealer's time / the peer's time (below 1 is faster).
#
#   benches/rw_bench.sh          # RUN_RUNS=30 RUNS=10 DD_RUNS=3 BIG_GB=5
#
# Needs root, /dev/fuse, overlayfs, and about BIG_GB*2+2 GB free in $TMPDIR
# (checked first). Installs Debian's hyperfine and fuse-overlayfs if missing.
# Everything it makes is removed at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

RUN_RUNS=${RUN_RUNS:-30}
RUNS=${RUNS:-10}
DD_RUNS=${DD_RUNS:-3}
BIG_GB=${BIG_GB:-5}

[ "$(id -u)" = 0 ] || { echo "rw_bench.sh: run as root (mounts)" >&2; exit 1; }
tmp=${TMPDIR:-/tmp}
need_kb=$(((BIG_GB * 2 + 2) * 1024 * 1024))
avail_kb=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
if [ "$avail_kb" -lt "$need_kb" ]; then
    echo "rw_bench.sh: $tmp has $((avail_kb / 1048576)) GiB free, needs $((need_kb / 1048576)) GiB (BIG_GB=$BIG_GB)" >&2
    exit 1
fi
if ! command -v fuse-overlayfs >/dev/null; then
    echo "== installing fuse-overlayfs (apt-get)"
    apt-get install -y -qq fuse-overlayfs >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq fuse-overlayfs >/dev/null; }
fi
ensure_hyperfine >/dev/null || true

echo "== building sealer (cargo build --release)"
(cd "$repo" && cargo build --release --quiet --bin sealer)
export SEALER="${CARGO_TARGET_DIR:-$repo/target}/release/sealer"

work=$(mktemp -d "$tmp/sealer-rw-bench.XXXXXX")
export WORK=$work STORE=$work/store
cleanup() {
    mountpoint -q "$WORK/m-sealer" && "$SEALER" --root "$STORE" umount "$WORK/m-sealer" >/dev/null
    mountpoint -q "$WORK/ro" && "$SEALER" --root "$STORE" umount "$WORK/ro" >/dev/null
    mountpoint -q "$WORK/m-fuse-overlayfs" && fusermount3 -u "$WORK/m-fuse-overlayfs"
    mountpoint -q "$WORK/m-overlay" && umount "$WORK/m-overlay"
    rm -rf "$WORK"
}
trap cleanup EXIT

# fresh PEER: unmounts PEER if mounted, empties its upper dir, mounts it again.
fresh() {
    local m=$WORK/m-$1 u=$WORK/u-$1 w=$WORK/w-$1
    case $1 in
    sealer) mountpoint -q "$m" && "$SEALER" --root "$STORE" umount "$m" >/dev/null ;;
    fuse-overlayfs) mountpoint -q "$m" && fusermount3 -u "$m" ;;
    overlay) mountpoint -q "$m" && umount "$m" ;;
    esac
    rm -rf "$u" "$w"
    mkdir -p "$m" "$u" "$w"
    case $1 in
    sealer) "$SEALER" --root "$STORE" mount --rw --upper "$u" cu:v1 "$m" >/dev/null ;;
    fuse-overlayfs) fuse-overlayfs -o "lowerdir=$WORK/lower,upperdir=$u,workdir=$w" "$m" 2>/dev/null ;;
    overlay) mount -t overlay overlay -o "lowerdir=$WORK/lower,upperdir=$u,workdir=$w" "$m" ;;
    esac
}
export -f fresh

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.0f ms", s * 1000 }'; }
mibs() { awk -v s="$1" 'BEGIN { printf "%.0f MiB/s", 1024 / s }'; }

echo "== making a ${BIG_GB} GiB base (random files) and the small base"
big=$work/big
mkdir -p "$big"/{bin,cri,etc,images,scripts,statics}
for i in $(seq "$BIG_GB"); do
    head -c 1G /dev/urandom >"$big/images/part$i.tar"
done
printf '{"version":"v1.19.8","arch":"amd64"}\n' >"$big/Metadata"
printf '{"log-driver":"json-file"}\n' >"$big/etc/daemon.json"
printf '#!/bin/sh\necho init\n' >"$big/scripts/init.sh"
printf 'FROM scratch\nCOPY . .\n' >"$big/Kubefile"
t0=$(date +%s.%N)
"$SEALER" --root "$STORE" build -t big:v1 "$big" >/dev/null 2>&1
t1=$(date +%s.%N)
rm -rf "$big"
"$SEALER" --root "$STORE" build -t small:v1 "$repo/examples/cluster-rootfs" >/dev/null 2>&1
for b in big small; do
    mkdir -p "$work/run-$b"
    printf 'FROM %s:v1\nRUN true\n' "$b" >"$work/run-$b/Kubefile"
done
big_size=$(du -sh "$STORE/blobs" | awk '{ print $1 }')
echo "   big:v1 built in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }'), store $big_size"

echo "== RUN true: ${BIG_GB} GiB base vs small base"
time_pair "$RUN_RUNS" "true" \
    "RUN true on big:v1" "$SEALER --root $STORE build --no-cache -t r:v1 $work/run-big" \
    "RUN true on small:v1" "$SEALER --root $STORE build --no-cache -t r:v1 $work/run-small" \
    >"$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
run_big=$MEDIAN_A run_small=$MEDIAN_B run_timer=$TIMER
"$SEALER" --root "$STORE" rmi big:v1 >/dev/null 2>&1 || true

echo "== copy-up and write throughput: sealer --rw, fuse-overlayfs, kernel overlayfs"
ctx=$work/cu
cp -a "$repo/examples/cluster-rootfs" "$ctx"
head -c 100M /dev/urandom >"$ctx/images/app.tar"
"$SEALER" --root "$STORE" build -t cu:v1 "$ctx" >/dev/null 2>&1
rm -rf "$ctx"
mkdir -p "$work/ro" "$work/lower"
"$SEALER" --root "$STORE" mount cu:v1 "$work/ro" >/dev/null
cp -a "$work/ro/." "$work/lower/"
cat "$work/ro/images/app.tar" >/dev/null
"$SEALER" --root "$STORE" umount "$work/ro" >/dev/null

peers=(sealer fuse-overlayfs overlay)
declare -A copyup ddsync ddbuf
for p in "${peers[@]}"; do
    copyup[$p]=$(time_loop "$RUNS" "fresh $p" "printf x >> \$WORK/m-$p/images/app.tar")
    size=$(stat -c %s "$work/m-$p/images/app.tar")
    [ "$size" = $((100 * 1048576 + 1)) ] || { echo "copy-up on $p: size $size" >&2; exit 1; }
    ddsync[$p]=$(time_loop "$DD_RUNS" "fresh $p" "dd if=/dev/zero of=\$WORK/m-$p/dd.bin bs=1M count=1024 conv=fsync status=none")
    ddbuf[$p]=$(time_loop "$DD_RUNS" "fresh $p" "dd if=/dev/zero of=\$WORK/m-$p/dd.bin bs=1M count=1024 status=none")
done

s=sealer f=fuse-overlayfs k=overlay
cat <<EOF

### RUN, copy-up and write throughput (\`benches/rw_bench.sh\`)

Machine: $(machine), ext4 on a virtual disk.
Runs: RUN true: $run_timer; copy-up: median of $RUNS, dd: median of $DD_RUNS
(date +%s.%N loop, one warm-up each, fresh mount and empty upper dir before
every run, untimed). fuse-overlayfs $(fuse-overlayfs --version 2>/dev/null | awk '/fuse-overlayfs/ { print $3; exit }').

| workload | sealer --rw | peer | ratio |
| --- | --- | --- | --- |
| \`sealer build --no-cache\` of \`FROM big:v1 / RUN true\`, ${BIG_GB} GiB base | $(ms "$run_big") | same on the 196 KiB example base: $(ms "$run_small") | **$(ratio "$run_big" "$run_small")×** (target ≤ 0.2 s, independent of size) |
| copy-up: append 1 byte to a 100 MiB lower file | $(ms "${copyup[$s]}") | fuse-overlayfs $(ms "${copyup[$f]}") | **$(ratio "${copyup[$s]}" "${copyup[$f]}")×** |
| | | kernel overlayfs $(ms "${copyup[$k]}") | $(ratio "${copyup[$s]}" "${copyup[$k]}")× |
| \`dd bs=1M count=1024 conv=fsync\` into the upper dir | $(ms "${ddsync[$s]}") ($(mibs "${ddsync[$s]}")) | fuse-overlayfs $(ms "${ddsync[$f]}") ($(mibs "${ddsync[$f]}")) | **$(ratio "${ddsync[$s]}" "${ddsync[$f]}")×** |
| | | kernel overlayfs $(ms "${ddsync[$k]}") ($(mibs "${ddsync[$k]}")) | $(ratio "${ddsync[$s]}" "${ddsync[$k]}")× |
| \`dd bs=1M count=1024\` (buffered) | $(ms "${ddbuf[$s]}") ($(mibs "${ddbuf[$s]}")) | fuse-overlayfs $(ms "${ddbuf[$f]}") ($(mibs "${ddbuf[$f]}")) | **$(ratio "${ddbuf[$s]}" "${ddbuf[$f]}")×** |
| | | kernel overlayfs $(ms "${ddbuf[$k]}") ($(mibs "${ddbuf[$k]}")) | $(ratio "${ddbuf[$s]}" "${ddbuf[$k]}")× |

Rerun: \`sudo benches/rw_bench.sh\` (RUN_RUNS, RUNS, DD_RUNS, BIG_GB to change the sizes).
EOF
