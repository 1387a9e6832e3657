#!/usr/bin/env bash
# `sealer mount` against its peers, in one run, on the same tar (issue 3).
#
# Workloads (each one tar, made into a one-layer image with `sealer build`,
# FROM scratch / COPY; the layer blob in the store is then *the* tar that every
# peer gets):
#   usr     a copy of a large real tree ($USR_SRC, default /usr)
#   rootfs  a ClusterRootfs-like tree: 20 random binaries of 50-200 MB under
#           bin/ cri/ images/ registry/, plus a few small files
# Peers:
#   kernel          tar -x of the tar, then the kernel's overlayfs
#                   (mount -t overlay -o lowerdir=<unpacked>:<empty>)
#   fuse-overlayfs  tar -x, then fuse-overlayfs over the same unpacked tree
#   ratarmount      ratarmount on the tar (pip, in a venv outside the repo:
#                   $RATARMOUNT_VENV, created when missing)
#   sealer          sealer mount IMAGE DIR (index already in the store)
# Figures (median of $RUNS runs; "cold" = sync + drop_caches before each):
#   ready       time until `ls` of the mount works (kernel, fuse-overlayfs:
#               tar -x + mount + ls; ratarmount, sealer: mount + ls with their
#               index present; the first mount without index is shown apart)
#   walk        find MNT -printf '%y %m %U %G %s %T@ %l %n\n' > /dev/null
#   read        tar -cf - -C MNT . | cat > /dev/null (every file's bytes)
#               cold runs take the peers in turn, round after round; warm
#               runs (after one untimed run) go peer by peer
#   memory      the sealer server's VmHWM, RssFile, RssAnon (/proc/PID/status)
#               after the walks and reads; RssAnon / entries is the heap cost
# Ratios are to the kernel overlayfs in the same run.
#
#   sudo benches/mount_bench.sh                    # both workloads, RUNS=3
#   WORKLOADS=rootfs RUNS=5 benches/mount_bench.sh
#   USR_SRC=/usr/share benches/mount_bench.sh      # a smaller real tree
#
# Needs root (mount -t overlay, drop_caches), /dev/fuse, fuse-overlayfs
# (Debian `fuse-overlayfs`), python3 -m venv, and ~3x the tree's size free
# under $WORK. Markdown tables go to stdout and to $RESULTS.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

RUNS=${RUNS:-3}
WORKLOADS=${WORKLOADS:-usr rootfs}
USR_SRC=${USR_SRC:-/usr}
WORK=${WORK:-/var/tmp/sealer-mount-bench}
RESULTS=${RESULTS:-${TMPDIR:-/tmp}/sealer-mount-bench-results.md}
RATARMOUNT_VENV=${RATARMOUNT_VENV:-/opt/bench-venv/ratarmount}
SKIP=${SKIP:-} # peers to leave out while iterating: "fov rat"
FMT='%y %m %U %G %s %T@ %l %n\n'

[ "$(id -u)" = 0 ] || { echo "error: run as root (overlay mounts, drop_caches)" >&2; exit 1; }
[ -e /dev/fuse ] || { echo "error: /dev/fuse is missing" >&2; exit 1; }
if ! command -v fuse-overlayfs >/dev/null; then
    apt-get install -y -qq fuse-overlayfs >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq fuse-overlayfs >/dev/null 2>&1; } || true
fi
command -v fuse-overlayfs >/dev/null || { echo "error: fuse-overlayfs is missing" >&2; exit 1; }

# ---- cleanup: every mount under $WORK, then the data ------------------------
cleanup() {
    local m
    for m in "$WORK"/mnt/*; do
        mountpoint -q "$m" 2>/dev/null || continue
        case "$m" in
        */sealer-*) "$SEALER" --root "$WORK/store" umount "$m" >/dev/null 2>&1 || umount -l "$m" || true ;;
        */kernel-*) umount "$m" || umount -l "$m" || true ;;
        *) fusermount3 -u "$m" 2>/dev/null || umount -l "$m" || true ;;
        esac
    done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
SEALER=${SEALER:-}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -e "$WORK" ]; then
    for m in "$WORK"/mnt/*; do
        if mountpoint -q "$m" 2>/dev/null; then
            echo "error: $m is still mounted from an earlier run; unmount it first" >&2
            trap - EXIT
            exit 1
        fi
    done
    rm -rf "$WORK"
fi
mkdir -p "$WORK"/{mnt,empty}

if [ -z "$SEALER" ]; then
    echo "== cargo build --release --bin sealer" >&2
    (cd "$repo" && cargo build --release --quiet --bin sealer)
    SEALER="${CARGO_TARGET_DIR:-$repo/target}/release/sealer"
fi
S() { "$SEALER" --root "$WORK/store" "$@"; }

RAT=""
RAT_WHY=""
FOV=1
case " $SKIP " in *" fov "*) FOV="" ;; esac
case " $SKIP " in *" rat "*) RAT_WHY="left out (SKIP=rat)" ;; esac
if [ -n "$RAT_WHY" ]; then
    :
elif [ ! -x "$RATARMOUNT_VENV/bin/ratarmount" ]; then
    echo "== pip install ratarmount into $RATARMOUNT_VENV" >&2
    { python3 -m venv "$RATARMOUNT_VENV" && "$RATARMOUNT_VENV/bin/pip" install -q ratarmount; } \
        >"$WORK/ratarmount-install.log" 2>&1 ||
        RAT_WHY="pip install ratarmount failed: $(tail -1 "$WORK/ratarmount-install.log")"
fi
if [ -z "$RAT_WHY" ]; then
    if "$RATARMOUNT_VENV/bin/ratarmount" --version >/dev/null 2>&1; then
        RAT="$RATARMOUNT_VENV/bin/ratarmount"
    else
        RAT_WHY="ratarmount --version failed: $("$RATARMOUNT_VENV/bin/ratarmount" --version 2>&1 | tail -1)"
    fi
fi

# ---- timing ---------------------------------------------------------------
drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches; }

# one run of a shell command; prints its wall time in seconds
once() {
    local t0 t1
    t0=$EPOCHREALTIME
    eval "$1" >/dev/null 2>>"$WORK/errors.log" || { echo "failed: $1" >&2; return 1; }
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

# measure PREPARE CMD WARMUP: median of $RUNS runs of CMD, PREPARE (untimed)
# before each, after WARMUP (0/1) untimed runs
measure() {
    local prep=$1 cmd=$2 warm=$3 i
    if [ "$warm" = 1 ]; then eval "$prep" && eval "$cmd" >/dev/null 2>&1; fi
    for ((i = 0; i < RUNS; i++)); do
        eval "$prep" >/dev/null 2>&1 || true
        once "$cmd"
    done | median
}

declare -A R # R[workload,peer,figure] = seconds (or bytes for memory)

# ---- workloads -------------------------------------------------------------
make_usr() { # $1 = build context
    local n
    n=$(find "$USR_SRC" -xdev | wc -l)
    echo "== copying $USR_SRC ($(du -sh -x "$USR_SRC" | cut -f1), $n entries) into the build context" >&2
    mkdir -p "$1/usr"
    tar -C "$USR_SRC" --one-file-system -cf - . | tar -C "$1/usr" -xf -
    printf 'FROM scratch\nCOPY usr usr\n' >"$1/Kubefile"
}

make_rootfs() { # $1 = build context: a ClusterRootfs of 20 big binaries
    local dirs=(bin bin bin bin bin cri cri images images images images images
        images registry registry registry statics statics bin cri) i mb
    echo "== generating a ClusterRootfs-like tree (20 random files of 50-200 MB)" >&2
    mkdir -p "$1"/{bin,cri,images,registry/docker/registry,statics,etc,scripts,manifests}
    for ((i = 0; i < 20; i++)); do
        mb=$((50 + (i * 53) % 151))
        head -c "${mb}M" /dev/urandom >"$1/${dirs[i]}/file-$i.bin"
    done
    for f in kubelet.service containerd.toml daemon.json kubeadm.yml registry.yml; do
        echo "# $f" >"$1/etc/$f"
    done
    for f in init.sh clean.sh docker.sh kubelet-pre-start.sh; do
        printf '#!/bin/sh\necho %s\n' "$f" >"$1/scripts/$f" && chmod 755 "$1/scripts/$f"
    done
    echo "version: v1.19.8" >"$1/Metadata"
    echo "ClusterRootfs benchmark tree" >"$1/README.md"
    printf 'FROM scratch\nCOPY . .\n' >"$1/Kubefile"
}

# The find -printf fields of every entry but the root, without the size and
# mtime of directories: ext4 shows a big directory larger than sealer's 4096,
# and GNU tar -x loses the mtime of a directory whose entries are not
# contiguous in the tar (sealer's layer tars sort by full path).
check_listing() {
    (cd "$1" && find . ! -path . -printf '%p %y %m %U %G %l %n ' \( -type d -printf '\n' -o -printf '%s %T@\n' \) | sort)
}

# ---- one workload ----------------------------------------------------------
run_workload() {
    local w=$1 ctx="$WORK/ctx-$1" lower="$WORK/lower-$1" t hex blob img="bench-$1:1"
    local mk="$WORK/mnt/kernel-$w" mf="$WORK/mnt/fov-$w" mr="$WORK/mnt/rat-$w" ms="$WORK/mnt/sealer-$w"
    mkdir -p "$mk" "$mf" "$mr" "$ms"
    "make_$w" "$ctx"
    echo "== sealer build -t $img (FROM scratch / COPY)" >&2
    t=$(once "S build -t $img '$ctx'")
    R[$w,sealer,build]=$t
    rm -rf "$ctx"
    hex=$(S inspect "$img" | awk '/^  layers:/ { getline; sub(/.*sha256:/, ""); print; exit }')
    blob="$WORK/store/blobs/sha256/$hex"
    [ -f "$blob" ] || { echo "error: no layer blob for $img ($hex)" >&2; exit 1; }
    R[$w,bytes]=$(stat -c %s "$blob")
    R[$w,index]=$(stat -c %s "$WORK/store/index/sha256/$hex")

    echo "== [$w] unpack (tar -x of the layer blob), $RUNS runs" >&2
    R[$w,unpack]=$(measure "rm -rf '$lower'; mkdir '$lower'; sync" "tar -xf '$blob' -C '$lower'" 0)
    sync
    R[$w,entries]=$(find "$lower" | wc -l)
    R[$w,files]=$(find "$lower" -type f | wc -l)

    echo "== [$w] ready: mount + ls" >&2
    R[$w,kernel,mount]=$(measure "umount '$mk'" \
        "mount -t overlay overlay -o ro,lowerdir='$lower:$WORK/empty' '$mk' && ls '$mk'" 0)
    R[$w,kernel,ready]=$(awk -v a="${R[$w,unpack]}" -v b="${R[$w,kernel,mount]}" 'BEGIN { print a + b }')
    if [ -n "$FOV" ]; then
        R[$w,fov,mount]=$(measure "fusermount3 -u '$mf'" \
            "fuse-overlayfs -o ro,lowerdir='$lower:$WORK/empty' '$mf' && ls '$mf'" 0)
        R[$w,fov,ready]=$(awk -v a="${R[$w,unpack]}" -v b="${R[$w,fov,mount]}" 'BEGIN { print a + b }')
    fi
    if [ -n "$RAT" ]; then
        local ratmount="'$RAT' --no-recursive --index-file '$WORK/rat-$w.sqlite' '$blob' '$mr' && ls '$mr'"
        if R[$w,rat,first]=$(once "$ratmount"); then
            R[$w,rat,ready]=$(measure "fusermount3 -u '$mr'" "$ratmount" 0)
        else
            RAT_WHY="ratarmount failed on the $w tar: $(tail -1 "$WORK/errors.log")"
            RAT=""
        fi
    fi
    local idx="$WORK/store/index/sha256/$hex"
    rm -f "$idx"
    R[$w,sealer,first]=$(once "S mount $img '$ms' && ls '$ms'")
    S umount "$ms" >/dev/null
    [ -f "$idx" ] || { echo "error: sealer mount did not rebuild $idx" >&2; exit 1; }
    R[$w,sealer,ready]=$(measure "S umount '$ms'" "S mount $img '$ms' && ls '$ms'" 0)
    local pid
    pid=$(S mount | awk -v m="$ms" '$2 == m { print $3 }')
    R[$w,sealer,anon0]=$(awk '/^RssAnon/ { print $2 * 1024 }' "/proc/$pid/status")

    echo "== [$w] listing check: kernel overlayfs vs sealer" >&2
    if diff <(check_listing "$mk") <(check_listing "$ms") >"$WORK/listing-$w.diff"; then
        R[$w,same]="identical"
    else
        R[$w,same]="DIFFERS in $(grep -c '^[<>]' "$WORK/listing-$w.diff") lines (e.g. $(grep -m1 '^[<>]' "$WORK/listing-$w.diff"))"
    fi

    local peer peers="kernel" i
    declare -A mnt=([kernel]=$mk [fov]=$mf [rat]=$mr [sealer]=$ms) walk=() read=()
    [ -z "$FOV" ] || peers+=" fov"
    [ -z "$RAT" ] || peers+=" rat"
    peers+=" sealer"
    # Cold runs take the peers in turn within each round, so a change in the
    # disk's speed during the run (it is shared here) hits every peer alike.
    echo "== [$w] walk and read, cold: $RUNS rounds of $peers" >&2
    for ((i = 0; i < RUNS; i++)); do
        for peer in $peers; do
            drop_caches
            walk[$peer]+=" $(once "find '${mnt[$peer]}' -printf '$FMT' >/dev/null")"
            drop_caches
            read[$peer]+=" $(once "tar -cf - -C '${mnt[$peer]}' . | cat >/dev/null")"
        done
    done
    for peer in $peers; do
        R[$w,$peer,walk_cold]=$(printf '%s\n' ${walk[$peer]} | median)
        R[$w,$peer,read_cold]=$(printf '%s\n' ${read[$peer]} | median)
        # Warm runs go peer by peer, so each one's working set stays cached.
        echo "== [$w] $peer: walk and read, warm" >&2
        R[$w,$peer,walk_warm]=$(measure true "find '${mnt[$peer]}' -printf '$FMT' >/dev/null" 1)
        R[$w,$peer,read_warm]=$(measure true "tar -cf - -C '${mnt[$peer]}' . | cat >/dev/null" 1)
    done

    local st="/proc/$pid/status"
    R[$w,sealer,hwm]=$(awk '/^VmHWM/ { print $2 * 1024 }' "$st")
    R[$w,sealer,file]=$(awk '/^RssFile/ { print $2 * 1024 }' "$st")
    R[$w,sealer,anon]=$(awk '/^RssAnon/ { print $2 * 1024 }' "$st")
    local p
    p=$(pgrep -f "fuse-overlayfs -o ro,lowerdir=$lower:" | head -1 || true)
    [ -z "$p" ] || R[$w,fov,anon]=$(awk '/^RssAnon/ { print $2 * 1024 }' "/proc/$p/status")
    if [ -n "$RAT" ]; then
        p=$(pgrep -f "ratarmount .*$mr" | head -1 || true)
        [ -z "$p" ] || R[$w,rat,anon]=$(awk '/^RssAnon/ { print $2 * 1024 }' "/proc/$p/status")
    fi

    S umount "$ms" >/dev/null
    umount "$mk"
    [ -z "$FOV" ] || fusermount3 -u "$mf"
    [ -z "$RAT" ] || fusermount3 -u "$mr"
    rm -rf "$lower" "$WORK/rat-$w.sqlite"
    report "$w"
}

# ---- report ------------------------------------------------------------------
report() {
    local w=$1
    awk -v runs="$RUNS" -v w="$w" -v src="$USR_SRC" -v rat_why="$RAT_WHY" \
        -v bytes="${R[$w,bytes]}" -v entries="${R[$w,entries]}" -v files="${R[$w,files]}" \
        -v ixbytes="${R[$w,index]}" -v same="${R[$w,same]}" -v unpack="${R[$w,unpack]}" \
        -v build="${R[$w,sealer,build]}" -v sfirst="${R[$w,sealer,first]}" -v rfirst="${R[$w,rat,first]:-}" \
        -v kr="${R[$w,kernel,ready]}" -v kw="${R[$w,kernel,walk_cold]}" -v kW="${R[$w,kernel,walk_warm]}" \
        -v kx="${R[$w,kernel,read_cold]}" -v kX="${R[$w,kernel,read_warm]}" \
        -v fr="${R[$w,fov,ready]:-}" -v fw="${R[$w,fov,walk_cold]:-}" -v fW="${R[$w,fov,walk_warm]:-}" \
        -v fx="${R[$w,fov,read_cold]:-}" -v fX="${R[$w,fov,read_warm]:-}" \
        -v rr="${R[$w,rat,ready]:-}" -v rw="${R[$w,rat,walk_cold]:-}" -v rW="${R[$w,rat,walk_warm]:-}" \
        -v rx="${R[$w,rat,read_cold]:-}" -v rX="${R[$w,rat,read_warm]:-}" \
        -v sr="${R[$w,sealer,ready]}" -v sw="${R[$w,sealer,walk_cold]}" -v sW="${R[$w,sealer,walk_warm]}" \
        -v sx="${R[$w,sealer,read_cold]}" -v sX="${R[$w,sealer,read_warm]}" \
        -v hwm="${R[$w,sealer,hwm]}" -v rfile="${R[$w,sealer,file]}" -v anon="${R[$w,sealer,anon]}" \
        -v anon0="${R[$w,sealer,anon0]}" -v fanon="${R[$w,fov,anon]:-}" -v ranon="${R[$w,rat,anon]:-}" '
    function cell(v, k) { return v == "" ? "n/a" : sprintf("%.3f s (%.2fx)", v, v / k) }
    function row(name, k, f, r, s, target) {
        printf "| %s | %.3f s | %s | %s | **%s** | %s |\n", name, k, cell(f, k), cell(r, k), cell(s, k), target
    }
    function mib(b) { return sprintf("%.1f MiB", b / 1048576) }
    BEGIN {
        what = (w == "usr") ? "a copy of " src : "ClusterRootfs-like: 20 random files of 50-200 MB + small files"
        printf "\n### Workload `%s`: %s\n\n", w, what
        printf "One layer tar of %.2f GiB, %d entries (%d regular files); sealer index %s.\n", bytes / 1073741824, entries, files, mib(ixbytes)
        printf "Median of %d runs; ratios to the kernel overlayfs.\n\n", runs
        printf "| figure | kernel overlayfs | fuse-overlayfs | ratarmount | sealer mount | target (sealer) |\n"
        printf "|---|---|---|---|---|---|\n"
        printf "| ready (until `ls` works) | %.3f s | %s | %s | **%s** | <= 0.05 s |\n", kr, cell(fr, kr), cell(rr, kr), cell(sr, kr)
        row("walk cold (`find -printf`)", kw, fw, rw, sw, "<= 1.5x")
        row("walk warm", kW, fW, rW, sW, "<= 1.2x")
        row("read cold (tar of the mount)", kx, fx, rx, sx, "<= 1.3x")
        row("read warm", kX, fX, rX, sX, "<= 1.25x")
        printf "\n"
        printf "- ready: kernel and fuse-overlayfs = `tar -x` (%.3f s) + mount + ls; ratarmount and sealer with their index present", unpack
        printf " (first mount building the index: ratarmount %s, sealer %s; `sealer build` of the tree %.1f s).\n", (rfirst == "" ? "n/a" : sprintf("%.2f s", rfirst)), sprintf("%.2f s", sfirst), build
        printf "- sealer server after the walks and reads: VmHWM %s, RssFile %s (binary + mmap'\''d index), RssAnon %s", mib(hwm), mib(rfile), mib(anon)
        printf " (%s right after mount + ls)", mib(anon0)
        if (entries >= 1000) printf " = **%.0f bytes per entry** (target <= 100; %.0f grown per entry)", anon / entries, (anon - anon0) / entries
        printf ".\n"
        if (fanon != "" || ranon != "") {
            printf "- peers'\'' RssAnon at the same point:"
            if (fanon != "") printf " fuse-overlayfs %s", mib(fanon)
            if (ranon != "") printf "%s ratarmount %s", (fanon != "" ? "," : ""), mib(ranon)
            printf ".\n"
        }
        printf "- `find -printf` listing of sealer vs the kernel overlayfs (directory sizes and mtimes aside): %s.\n", same
        if (rat_why != "") printf "- ratarmount: %s\n", rat_why
    }' | tee -a "$RESULTS"
}

{
    echo "## Mount benchmark: sealer mount vs kernel overlayfs, fuse-overlayfs, ratarmount"
    echo
    echo "Machine: $(machine); load average at start $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Peers: kernel overlayfs, $(fuse-overlayfs --version 2>/dev/null | awk '/fuse-overlayfs/ { print $0; exit }'),"
    echo "ratarmount $([ -n "$RAT" ] && "$RAT" --version 2>/dev/null | awk '/^ratarmount / { print $2; exit }' || echo "n/a ($RAT_WHY)"), sealer $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- fs src || echo " + uncommitted changes")."
    echo "Rerun: \`sudo benches/mount_bench.sh\` (RUNS, WORKLOADS, USR_SRC, WORK override)."
} | tee "$RESULTS"

for w in $WORKLOADS; do
    run_workload "$w"
done
echo | tee -a "$RESULTS"
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)." | tee -a "$RESULTS"
echo "results: $RESULTS" >&2
