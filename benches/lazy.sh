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
#           whole blob of its layer, goal <= 1.3x.
#
#   benches/lazy.sh                          # SIZE_MB=2000 FILES=5000 RUNS=3
#   SIZE_MB=300 RUNS=1 SEALER=path/to/sealer benches/lazy.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

SIZE_MB=${SIZE_MB:-2000}
FILES=${FILES:-5000}
RUNS=${RUNS:-3}
for tool in docker-registry curl python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing: apt-get install $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "error: run as root (FUSE mounts)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sealer-lazy-bench.XXXXXX")
reg_pid=
cleanup() {
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
for i in 0 1 2; do head -c "$((big_mb / 3))M" /dev/urandom >"$ctx/images/image-$i.tar.gz"; done
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
    grep '"GET /v2/[^ ]*/blobs/sha256:' "$work/reg.log" |
        sed -n 's/.*HTTP\/1\.1" [0-9]* \([0-9]*\) .*/\1/p' | awk '{ s += $1 } END { print s + 0 }'
}

mkdir -p "$work/mnt"
fresh="'$sealer' --root '$work/node' umount '$work/mnt' >/dev/null 2>&1 || true; rm -rf '$work/node'"
echo "== time to a usable mount: pull --lazy vs full pull (fresh store each run)"
time_pair "$RUNS" "$fresh" \
    "pull --lazy + mount + ls" "'$sealer' --root '$work/node' pull -q --lazy '$ref' && '$sealer' --root '$work/node' mount '$ref' '$work/mnt' && ls '$work/mnt' >/dev/null" \
    "pull + mount + ls" "'$sealer' --root '$work/node' pull -q '$ref' && '$sealer' --root '$work/node' mount '$ref' '$work/mnt' && ls '$work/mnt' >/dev/null"
t_lazy=$MEDIAN_A t_full=$MEDIAN_B timer=$TIMER
bash -c "$fresh"

echo "== bytes fetched: pull --lazy + ls -R + cat of one small file"
before=$(sent)
"$sealer" --root "$work/node" pull -q --lazy "$ref" >/dev/null
"$sealer" --root "$work/node" mount "$ref" "$work/mnt"
ls -R "$work/mnt" >/dev/null
cat "$work/mnt/etc/small.conf" >/dev/null
fetched=$(($(sent) - before))

echo "== sequential read of the biggest file: lazy mount vs curl of its blob"
bash -c "$fresh"
"$sealer" --root "$work/node" pull -q --lazy "$ref" >/dev/null
"$sealer" --root "$work/node" mount "$ref" "$work/mnt"
big=$work/mnt/bin/kubelet
[ -f "$work/mnt/images/image-0.tar.gz" ] && big=$work/mnt/images/image-0.tar.gz
big_size=$(stat -c %s "$big")
t0=$(date +%s.%N)
cat "$big" >/dev/null
t1=$(date +%s.%N)
t_read=$(echo "$t0 $t1" | awk '{ printf "%.3f", $2 - $1 }')
blob=$(ls -S "$work/regdata/docker/registry/v2/blobs/sha256/"*/*/data | head -1)
blob_digest=sha256:$(basename "$(dirname "$blob")")
t0=$(date +%s.%N)
curl -s -o /dev/null "http://$reg/v2/bench/lazy/blobs/$blob_digest"
t1=$(date +%s.%N)
t_curl=$(echo "$t0 $t1" | awk '{ printf "%.3f", $2 - $1 }')
blob_size=$(stat -c %s "$blob")
"$sealer" --root "$work/node" umount "$work/mnt"

echo
echo "machine:   $(machine)"
echo "workload:  ~${SIZE_MB} MB image, $FILES small files, $compressed bytes in the registry"
echo "timer:     $timer"
awk -v a="$t_lazy" -v b="$t_full" 'BEGIN { printf "time to a usable mount: pull --lazy %.2fs, full pull %.2fs: %.1f%% (goal <= 5%%)\n", a, b, 100 * a / b }'
awk -v f="$fetched" -v c="$compressed" 'BEGIN { printf "ls -R + one small file: %d bytes fetched of %d: %.2f%% (goal <= 2%%)\n", f, c, 100 * f / c }'
awk -v a="$t_read" -v b="$t_curl" -v s="$big_size" -v bs="$blob_size" 'BEGIN { printf "sequential read of %d bytes through the lazy mount %.2fs (%.0f MB/s) vs curl of the %d-byte blob %.2fs (%.0f MB/s): %.2fx time per byte (goal <= 1.3x)\n", s, a, s / a / 1e6, bs, b, bs / b / 1e6, (a / s) / (b / bs) }'
