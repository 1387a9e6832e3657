#!/usr/bin/env bash
# Writable mounts, interleaved (issue 16 part 3): the copy-up and dd
# workloads of rw_bench.sh with the peers taking turns in every iteration,
# so this disk's drift lands on all of them alike.
#
# Workload: the example ClusterRootfs plus images/app.tar (100 MiB random)
#           built as cu:v1 and copied (cp -a) as the peers' lower dir.
#           Timed, each on a fresh mount and empty upper dir: `printf x >>
#           images/app.tar` (copy-up), `dd if=/dev/zero bs=1M count=1024`
#           buffered and with conv=fsync.
# Peers:    `sealer mount --rw` (release build), optionally another sealer
#           binary (SEALER_BASE, e.g. a build of main), fuse-overlayfs and
#           the kernel's overlayfs. Prints median, best and worst of N runs
#           and each peer's median / the kernel's median (best / best).
#
#   sudo N=7 SEALER_BASE=/path/to/old/sealer benches/rw_interleaved.sh
#
# Needs root, /dev/fuse, overlayfs, fuse-overlayfs, python3, ~2.5 GB free.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
N=${N:-7}
[ "$(id -u)" = 0 ] || { echo "rw_interleaved.sh: run as root (mounts)" >&2; exit 1; }
(cd "$repo" && cargo build --release --quiet --bin sealer)
S="${CARGO_TARGET_DIR:-$repo/target}/release/sealer"
B=${SEALER_BASE:-}
peers=(new fo k)
[ -n "$B" ] && peers=(base new fo k)
W=$(mktemp -d "${TMPDIR:-/tmp}/sealer-rwi.XXXXXX")
ST=$W/store
bin() { if [ "$1" = base ]; then echo "$B"; else echo "$S"; fi; }
down() {
    local m=$W/m-$1
    mountpoint -q "$m" || return 0
    case $1 in
    base | new) "$(bin "$1")" --root "$ST" umount "$m" >/dev/null ;;
    fo) fusermount3 -u "$m" ;;
    k) umount "$m" ;;
    esac
}
cleanup() { for p in "${peers[@]}"; do down "$p"; done; rm -rf "$W"; }
trap cleanup EXIT
fresh() {
    local m=$W/m-$1 u=$W/u-$1 w=$W/w-$1
    down "$1"
    rm -rf "$u" "$w"
    mkdir -p "$m" "$u" "$w"
    case $1 in
    base | new) "$(bin "$1")" --root "$ST" mount --rw --upper "$u" cu:v1 "$m" >/dev/null ;;
    fo) fuse-overlayfs -o "lowerdir=$W/lower,upperdir=$u,workdir=$w" "$m" 2>/dev/null ;;
    k) mount -t overlay overlay -o "lowerdir=$W/lower,upperdir=$u,workdir=$w" "$m" ;;
    esac
    sync
}
secs() { local s e; s=$(date +%s.%N); eval "$1"; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN { print b - a }'; }

mkdir -p "$W/ctx" "$W/lower"
cp -a "$repo/examples/cluster-rootfs/." "$W/ctx/"
head -c 100M /dev/urandom >"$W/ctx/images/app.tar"
"$S" --root "$ST" build -t cu:v1 "$W/ctx" >/dev/null 2>&1
cp -a "$W/ctx/." "$W/lower/"
cat "$W/lower/images/app.tar" >/dev/null
declare -A R
for _ in $(seq "$N"); do
    for p in "${peers[@]}"; do
        fresh "$p"; R[copy-up,$p]+=" $(secs "printf x >> $W/m-$p/images/app.tar")"
        fresh "$p"; R[dd-buffered,$p]+=" $(secs "dd if=/dev/zero of=$W/m-$p/dd.bin bs=1M count=1024 status=none")"
        fresh "$p"; R[dd-fsync,$p]+=" $(secs "dd if=/dev/zero of=$W/m-$p/dd.bin bs=1M count=1024 conv=fsync status=none")"
    done
done
for w in copy-up dd-buffered dd-fsync; do
    for p in "${peers[@]}"; do echo "$w $p ${R[$w,$p]}"; done
done | python3 -c '
import sys, statistics as st
rows = [l.split() for l in sys.stdin]
runs = {(r[0], r[1]): sorted(map(float, r[2:])) for r in rows}
names = {"base": "SEALER_BASE", "new": "sealer --rw", "fo": "fuse-overlayfs", "k": "kernel overlayfs"}
print(f"N={len(rows[0]) - 2} interleaved runs; time median (best-worst); median / kernel median (best / kernel best)")
for (w, p), v in runs.items():
    k = runs[(w, "k")]
    m = st.median(v)
    print(f"{w:12} {names[p]:17} {m*1000:6.0f} ms ({v[0]*1000:.0f}-{v[-1]*1000:.0f}) {m/st.median(k):.2f}x ({v[0]/k[0]:.2f}x)")
'
