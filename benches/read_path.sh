#!/usr/bin/env bash
# The read path of `sealer mount` against the kernel's overlayfs, in one run
# (issue 16): big-file reads, cold and warm, the page cache a full read
# leaves, and a cold metadata walk.
#
# Workloads (each made into a one-layer image with `sealer build`, FROM
# scratch / COPY; the kernel and fuse-overlayfs get the layer blob unpacked):
#   big    6 random files of 150 MB (the shape of images/ and registry/ of a
#          ClusterRootfs): read = tar -cf - -C MNT . | cat > /dev/null
#   share  a copy of $SHARE_SRC (default /usr/share):
#          walk = find MNT -printf '%y %m %U %G %s %T@ %l %n\n' > /dev/null
# Peers: kernel overlayfs (lowerdir = the unpacked blob), fuse-overlayfs over
# the same tree, ratarmount on the layer blob itself (a tar, as ours; its
# index built before timing; from $RATARMOUNT, default the venv
# /opt/bench-venv/ratarmount that benches/mount_bench.sh makes, skipped with
# the reason when missing), sealer mount; $SEALER_OLD, if set, is mounted
# beside as "old" (a sealer binary from before a change, same store).
# Each round drops the caches (sync; echo 3 > drop_caches) before every
# peer's cold run, peers in turn, so the disk's drift (3x within minutes on
# a shared machine) hits all alike; then warm runs, peers in turn. Medians
# and [min-max] of $ROUNDS rounds. Page cache left by a cold read of `big`:
# fincore of the blob plus the files through the mount (sealer), of the
# unpacked files (kernel), over the bytes read.
#
#   sudo benches/read_path.sh                      # ROUNDS=7
#   sudo SEALER_OLD=/path/to/old/sealer ROUNDS=9 benches/read_path.sh
#
# Needs root, /dev/fuse, fuse-overlayfs, fincore (util-linux), ~3 GB under $WORK.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

ROUNDS=${ROUNDS:-7}
WORK=${WORK:-/var/tmp/sealer-read-bench}
SHARE_SRC=${SHARE_SRC:-/usr/share}
SEALER_OLD=${SEALER_OLD:-}
RATARMOUNT=${RATARMOUNT:-/opt/bench-venv/ratarmount/bin/ratarmount}
RAT_WHY=""
if [ ! -x "$RATARMOUNT" ]; then
    RAT_WHY="not installed at $RATARMOUNT (python3 -m venv /opt/bench-venv/ratarmount; its pip install ratarmount)"
elif ! "$RATARMOUNT" --version >/dev/null 2>&1; then
    RAT_WHY="$RATARMOUNT --version fails"
fi
[ "$(id -u)" = 0 ] || { echo "error: run as root (overlay mounts, drop_caches)" >&2; exit 1; }
command -v fuse-overlayfs >/dev/null || { echo "error: fuse-overlayfs is missing" >&2; exit 1; }
build_sealer "$(dirname "$here")" >&2
SEALER=$SEALER_BIN

S() { "$SEALER" --root "$WORK/store" "$@"; }
drop() { sync && echo 3 >/proc/sys/vm/drop_caches; }
secs() { # wall time of a shell command
    local a=$EPOCHREALTIME
    eval "$1" >/dev/null
    awk -v a="$a" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'
}
stats() { # median [min-max] of the arguments
    printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END {
        m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
        printf "%.3f [%.3f-%.3f]", m, a[1], a[NR] }'
}
cached() { fincore -b -n -o RES "$@" | awk '{ s += $1 } END { print s + 0 }'; }
declare -a MOUNTS=()
cleanup() {
    local m
    for m in "${MOUNTS[@]}"; do
        mountpoint -q "$m" || continue
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$WORK"
mkdir -p "$WORK"/{ctx-big,ctx-share/usr,empty}

echo "== workloads: 6 x 150 MB random files; a copy of $SHARE_SRC" >&2
for i in 0 1 2 3 4 5; do head -c 150M /dev/urandom >"$WORK/ctx-big/f$i.bin"; done
printf 'FROM scratch\nCOPY . .\n' >"$WORK/ctx-big/Kubefile"
tar -C "$SHARE_SRC" --one-file-system -cf - . | tar -C "$WORK/ctx-share/usr" -xf -
printf 'FROM scratch\nCOPY usr usr\n' >"$WORK/ctx-share/Kubefile"

# mount_all W: mounts workload W for every peer; sets PEERS and MNT[peer]
declare -A MNT
mount_all() {
    local w=$1 hex blob lower="$WORK/lower-$1" p
    S build -t "$w:1" "$WORK/ctx-$w" >/dev/null
    rm -rf "$WORK/ctx-$w"
    hex=$(S inspect "$w:1" | awk '/^  layers:/ { getline; sub(/.*sha256:/, ""); print; exit }')
    BLOB="$WORK/store/blobs/sha256/$hex"
    mkdir -p "$lower" && tar -xf "$BLOB" -C "$lower"
    LOWER=$lower
    PEERS="kernel fov sealer"
    [ -n "$RAT_WHY" ] || PEERS+=" rat"
    [ -z "$SEALER_OLD" ] || PEERS+=" old"
    for p in $PEERS; do MNT[$p]="$WORK/mnt-$w-$p" && mkdir -p "${MNT[$p]}" && MOUNTS+=("${MNT[$p]}"); done
    mount -t overlay overlay -o "ro,lowerdir=$lower:$WORK/empty" "${MNT[kernel]}"
    fuse-overlayfs -o "ro,lowerdir=$lower:$WORK/empty" "${MNT[fov]}" 2>/dev/null
    S mount "$w:1" "${MNT[sealer]}" >/dev/null
    # ratarmount indexes the tar on its first mount (untimed), into a file
    # beside it; a second mount would reuse it.
    [ -n "$RAT_WHY" ] || "$RATARMOUNT" --index-file "$WORK/rat-$w.index.sqlite" "$BLOB" "${MNT[rat]}" >/dev/null 2>&1
    [ -z "$SEALER_OLD" ] || "$SEALER_OLD" --root "$WORK/store" mount "$w:1" "${MNT[old]}" >/dev/null
}

# run W CMD: cold and warm rounds of CMD (DIR = the mountpoint), one line a peer
run() {
    local w=$1 cmd=$2 p r
    declare -A cold warm
    for ((r = 0; r < ROUNDS; r++)); do
        for p in $PEERS; do
            drop
            cold[$p]+=" $(secs "${cmd//DIR/${MNT[$p]}}")"
        done
    done
    for p in $PEERS; do eval "${cmd//DIR/${MNT[$p]}}" >/dev/null; done
    for ((r = 0; r < ROUNDS; r++)); do
        for p in $PEERS; do warm[$p]+=" $(secs "${cmd//DIR/${MNT[$p]}}")"; done
    done
    local k k2
    k=$(stats ${cold[kernel]} | cut -d' ' -f1)
    k2=$(stats ${warm[kernel]} | cut -d' ' -f1)
    for p in $PEERS; do
        local c wm
        c=$(stats ${cold[$p]})
        wm=$(stats ${warm[$p]})
        awk -v p="$p" -v w="$w" -v c="$c" -v wm="$wm" -v k="$k" -v k2="$k2" 'BEGIN {
            split(c, a, " "); split(wm, b, " ")
            printf "| %s | %s | %s s %s (%.2fx) | %s s %s (%.2fx) |\n", w, p, a[1], a[2], a[1] / k, b[1], b[2], b[1] / k2 }'
    done
}

unmount_all() {
    local p
    for p in $PEERS; do umount "${MNT[$p]}"; done
    rm -rf "$LOWER"
}

echo "Machine: $(machine); load average at start $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Peers: kernel overlayfs, $(fuse-overlayfs --version 2>/dev/null | awk '/fuse-overlayfs/ { print; exit }'), ratarmount ${RAT_WHY:-$("$RATARMOUNT" --version 2>/dev/null | awk '/^ratarmount / { print $2; exit }')} (rat), sealer${SEALER_OLD:+ and old = $SEALER_OLD}. $ROUNDS rounds, median [min-max], ratio of medians to the kernel."
echo
echo "| workload | peer | cold | warm |"
echo "| --- | --- | --- | --- |"
mount_all big
run big "tar -cf - -C DIR . | cat"
bytes=$(du -sb --apparent-size "$LOWER" | cut -f1)
cache_line="page cache left by one cold read of big ($bytes bytes):"
for p in kernel sealer ${SEALER_OLD:+old}; do
    drop
    eval "tar -cf - -C '${MNT[$p]}' . | cat >/dev/null"
    if [ "$p" = kernel ]; then
        n=$(find "$LOWER" -type f -exec fincore -b -n -o RES {} + | awk '{ s += $1 } END { print s }')
    else
        n=$(($(cached "$BLOB") + $(find "${MNT[$p]}" -type f -exec fincore -b -n -o RES {} + | awk '{ s += $1 } END { print s }')))
    fi
    cache_line+=" $p $(awk -v n="$n" -v b="$bytes" 'BEGIN { printf "%.2fx", n / b }')"
done
unmount_all
mount_all share
run share "find DIR -printf '%y %m %U %G %s %T@ %l %n\n'"
unmount_all
echo
echo "$cache_line"
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
