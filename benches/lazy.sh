#!/usr/bin/env bash
# Lazy ClusterImages (issue 13 benchmark): an image on a local registry
# mounted after `pull --lazy` (layer bytes fetched on demand) against a full
# `pull`; bytes fetched for `ls -R` plus one small file; a sequential read of
# the biggest file through the lazy mount against `curl` of its layer blob.
#
# Workload: one image built by `sealer build` of a ClusterRootfs-like
#           context: a few big files (random, incompressible, as container
#           images' gzip blobs are; and compressible text) and FILES small
#           files, ~SIZE_MB MB in all, pushed by `sealer push` (gzip members
#           + tables) to Debian's docker-registry on 127.0.0.1.
# Measures: time to a usable mount (pull [--lazy] + mount + ls of the root)
#           lazy vs full, goal <= 5%; bytes the registry sent for blobs
#           during `pull --lazy` + `ls -R` + `cat` of one small file, against
#           the image's compressed size, goal <= 2%; `cat` of the biggest
#           file through a fresh lazy mount vs `curl -o /dev/null` of the
#           whole blob of its layer, goal <= 1.3x; and the CPU seconds
#           each side used (mount server, registry, cat; registry, curl),
#           as both share this machine's cores with the registry.
#
#           The sequential read is repeated RUNS times (fresh store and mount
#           each), each next to its own curl; the ratio's spread is reported.
#
#   benches/lazy.sh                          # SIZE_MB=2000 FILES=5000 RUNS=3
#   SIZE_MB=300 RUNS=1 SEALER=path/to/sealer benches/lazy.sh
#   READ_MB=500 PARTS=read BASE=old/sealer benches/lazy.sh
#   RATE=10gbit PARTS=read benches/lazy.sh    # the registry behind a 10 Gb/s link
#
# READ_MB: size of the big file read sequentially (default a fifth of
# SIZE_MB); PARTS: any of mount,bytes,read (default all three); BASE:
# another sealer binary whose sequential read is measured in the same runs
# (it must read the table version SEALER pushes, else its `pull --lazy`
# fetches the layer whole and its read is a local one);
# RATE: shapes the loopback interface (tc tbf, for curl and the lazy reads
# alike) during the sequential reads, as a registry across a network link of
# that rate; without it both sides share this machine's CPU with the
# registry, which a registry on another machine does not.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

SIZE_MB=${SIZE_MB:-2000}
FILES=${FILES:-5000}
RUNS=${RUNS:-3}
PARTS=${PARTS:-mount,bytes,read}
BASE=${BASE:-}
part() { case ",$PARTS," in *",$1,"*) return 0 ;; esac; return 1; }
for tool in docker-registry curl python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing: apt-get install $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "error: run as root (FUSE mounts)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sealer-lazy-bench.XXXXXX")
reg_pid=
shaped=
cleanup() {
    [ -n "$shaped" ] && tc qdisc del dev lo root 2>/dev/null || true
    [ -n "${sealer:-}" ] && "$sealer" --root "$work/node" umount "$work/mnt" >/dev/null 2>&1 || true
    [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

build_sealer "$repo"
sealer=$SEALER_BIN

echo "== generating a ~${SIZE_MB} MB ClusterRootfs with $FILES small files in $work/ctx"
ctx=$work/ctx
mkdir -p "$ctx"/{bin,images,manifests,etc}
big_mb=$((SIZE_MB * 60 / 100))
text_mb=$((SIZE_MB - big_mb))
READ_MB=${READ_MB:-$((big_mb / 3))}
rest_mb=$(((big_mb - READ_MB) / 2))
[ "$rest_mb" -ge 1 ] || rest_mb=1
head -c "${READ_MB}M" /dev/urandom >"$ctx/images/image-0.tar.gz"
for i in 1 2; do head -c "${rest_mb}M" /dev/urandom >"$ctx/images/image-$i.tar.gz"; done
python3 - "$ctx" "$text_mb" "$FILES" <<'PY'
import os, sys
ctx, mb, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
line = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-proxy}\n"
with open(os.path.join(ctx, "bin", "kubelet"), "wb") as f:
    for i in range(mb * (1 << 20) // 4096):
        f.write((line * 70)[:4000] + str(i).encode().rjust(96, b"."))
for i in range(files):
    d = os.path.join(ctx, "manifests", f"d{i % 50}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.yaml"), "wb") as f:
        f.write(line + f"# {i}\n".encode())
PY
echo "hello" >"$ctx/etc/small.conf"
printf 'FROM scratch\nCOPY . .\n' >"$ctx/Kubefile"
image=bench/lazy:v1
"$sealer" --root "$work/src" build -q -t "$image" "$ctx" >/dev/null 2>&1 ||
    "$sealer" --root "$work/src" build -t "$image" "$ctx" >/dev/null
rm -rf "$ctx"

echo "== starting docker-registry (access log on) and pushing"
start_registry "$work" true
reg_pid=$REG_PID reg=$REG
"$sealer" --root "$work/src" push -q "$image" "$reg/$image" >/dev/null
ref="$reg/$image"
compressed=$(du -sb "$work/regdata/docker/registry/v2/blobs" | awk '{ print $1 }')
echo "image: $ref, $compressed bytes in the registry"

# bytes the registry sent for blob GETs, from the access log
sent() {
    { grep '"GET /v2/[^ ]*/blobs/sha256:' "$work/reg.log" || true; } |
        sed -n 's/.*HTTP\/1\.1" [0-9]* \([0-9]*\) .*/\1/p' | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

mkdir -p "$work/mnt"
fresh="'$sealer' --root '$work/node' umount '$work/mnt' >/dev/null 2>&1 || true; rm -rf '$work/node'"
if part mount; then
    echo "== time to a usable mount: pull --lazy vs full pull (fresh store each run)"
    time_pair "$RUNS" "$fresh" \
        "pull --lazy + mount + ls" "'$sealer' --root '$work/node' pull -q --lazy '$ref' && '$sealer' --root '$work/node' mount '$ref' '$work/mnt' && ls '$work/mnt' >/dev/null" \
        "pull + mount + ls" "'$sealer' --root '$work/node' pull -q '$ref' && '$sealer' --root '$work/node' mount '$ref' '$work/mnt' && ls '$work/mnt' >/dev/null"
    t_lazy=$MEDIAN_A t_full=$MEDIAN_B timer=$TIMER
    bash -c "$fresh"
fi

if part bytes; then
    echo "== bytes fetched: pull --lazy + ls -R + cat of one small file"
    before=$(sent)
    "$sealer" --root "$work/node" pull -q --lazy "$ref" >/dev/null
    "$sealer" --root "$work/node" mount "$ref" "$work/mnt"
    ls -R "$work/mnt" >/dev/null
    cat "$work/mnt/etc/small.conf" >/dev/null
    fetched=$(($(sent) - before))
    bash -c "$fresh"
fi

now() { date +%s.%N; }
# CPU seconds a process (all its threads) has used so far
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
# lazy_read BIN: "wall server registry reader": seconds to `cat` the big
# file through a fresh lazy mount, and the CPU seconds the mount server, the
# registry and `cat` spent meanwhile (where the machine's cores went)
lazy_read() {
    local bin=$1 t0 t1 spid s0 s1 r0 r1
    bash -c "$fresh"
    "$bin" --root "$work/node" pull -q --lazy "$ref" >/dev/null
    spid=$("$bin" --root "$work/node" mount "$ref" "$work/mnt" | sed -n 's/.*(pid \([0-9]*\),.*/\1/p')
    [ -n "$spid" ] || { echo "error: no mount server pid from sealer mount" >&2; exit 1; }
    s0=$(cpu_of "$spid") r0=$(cpu_of "$reg_pid")
    t0=$(now)
    /usr/bin/time -f "%U %S" -o "$work/cat.cpu" cat "$big" >/dev/null
    t1=$(now)
    s1=$(cpu_of "$spid") r1=$(cpu_of "$reg_pid")
    "$bin" --root "$work/node" umount "$work/mnt" >/dev/null
    echo "$t0 $t1 $s0 $s1 $r0 $r1 $(cat "$work/cat.cpu")" |
        awk '{ printf "%.3f %.2f %.2f %.2f\n", $2 - $1, $4 - $3, $6 - $5, $7 + $8 }'
}
# curl_read: "wall registry curl" for the whole blob
curl_read() {
    local t0 t1 r0 r1
    r0=$(cpu_of "$reg_pid")
    t0=$(now)
    /usr/bin/time -f "%U %S" -o "$work/curl.cpu" \
        curl -s -o /dev/null "http://$reg/v2/bench/lazy/blobs/$blob_digest"
    t1=$(now)
    r1=$(cpu_of "$reg_pid")
    echo "$t0 $t1 $r0 $r1 $(cat "$work/curl.cpu")" |
        awk '{ printf "%.3f %.2f %.2f\n", $2 - $1, $4 - $3, $5 + $6 }'
}
if part read; then
    if [ -n "${RATE:-}" ]; then
        command -v tc >/dev/null || { echo "error: tc is missing: apt-get install iproute2" >&2; exit 1; }
        tc qdisc add dev lo root tbf rate "$RATE" burst 4mb latency 100ms
        shaped=1
        echo "== loopback shaped to $RATE (tc tbf) for the sequential reads"
    fi
    echo "== sequential read of the biggest file: lazy mount vs curl of its blob ($RUNS runs)"
    big=$work/mnt/images/image-0.tar.gz
    blob=$(ls -S "$work/regdata/docker/registry/v2/blobs/sha256/"*/*/data | head -1)
    blob_digest=sha256:$(basename "$(dirname "$blob")")
    blob_size=$(stat -c %s "$blob")
    big_size=$((READ_MB * 1048576))
    reads=$work/reads
    : >"$reads"
    for ((i = 0; i < RUNS; i++)); do
        read -r c cr cc < <(curl_read)
        read -r a as ar ac < <(lazy_read "$sealer")
        b=- bs=- br=- bc=-
        [ -n "$BASE" ] && read -r b bs br bc < <(lazy_read "$BASE")
        read -r c2 cr2 cc2 < <(curl_read)
        echo "run $i: curl $c s (CPU: registry $cr s, curl $cc s), lazy $a s (CPU: server $as s, registry $ar s, cat $ac s), base $b s (CPU: server $bs s), curl $c2 s (CPU: registry $cr2 s, curl $cc2 s)"
        echo "$c $a $b $c2 $as $ar $ac $cr $cc $cr2 $cc2" >>"$reads"
    done
    if [ -n "$shaped" ]; then
        tc qdisc del dev lo root
        shaped=
    fi
fi
bash -c "$fresh"

echo
echo "machine:   $(machine)"
echo "workload:  ~${SIZE_MB} MB image, $FILES small files, a ${READ_MB} MiB random file, $compressed bytes in the registry${RATE:+, reads through loopback shaped to $RATE}"
if part mount; then
    echo "timer:     $timer"
    awk -v a="$t_lazy" -v b="$t_full" 'BEGIN { printf "time to a usable mount: pull --lazy %.2fs, full pull %.2fs: %.1f%% (goal <= 5%%)\n", a, b, 100 * a / b }'
fi
if part bytes; then
    awk -v f="$fetched" -v c="$compressed" 'BEGIN { printf "ls -R + one small file: %d bytes fetched of %d: %.2f%% (goal <= 2%%)\n", f, c, 100 * f / c }'
fi
if part read; then
    # per run: time per byte through the lazy mount over curl's time per byte
    # of the whole blob (the mean of the curl before and after)
    awk -v s="$big_size" -v bs="$blob_size" -v base="$BASE" '
        function ratio(t, c) { return (t / s) / (c / bs) }
        { c = ($1 + $4) / 2; r = ratio($2, c); ra[NR] = r; ta[NR] = $2; ca[NR] = c
          # CPU seconds per GB: the lazy read (server + registry + cat), curl (registry + curl)
          lz[NR] = ($5 + $6 + $7) / s * 1e9; cu[NR] = ($8 + $9 + $10 + $11) / 2 / bs * 1e9
          sv[NR] = $5 / s * 1e9
          if (base != "") { rb[NR] = ratio($3, c); tb[NR] = $3 } }
        function range(v, n,   i, lo, hi) { lo = hi = v[1]; for (i = 2; i <= n; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i] } return sprintf("%.2f-%.2f", lo, hi) }
        function mbs(v, sz, n,   i, lo, hi, x) { lo = hi = sz / v[1] / 1e6; for (i = 2; i <= n; i++) { x = sz / v[i] / 1e6; if (x < lo) lo = x; if (x > hi) hi = x } return sprintf("%.0f-%.0f MB/s", lo, hi) }
        END {
            printf "sequential read of %d bytes through the lazy mount (%s) vs curl of the %d-byte blob (%s): %sx time per byte (goal <= 1.3x; %d runs)\n", s, mbs(ta, s, NR), bs, mbs(ca, bs, NR), range(ra, NR), NR
            printf "  CPU per GB, all processes: lazy read %s s (of it the mount server %s s), curl %s s\n", range(lz, NR), range(sv, NR), range(cu, NR)
            if (base != "") printf "  base %s: %s, %sx\n", base, mbs(tb, s, NR), range(rb, NR)
        }' "$reads"
fi
