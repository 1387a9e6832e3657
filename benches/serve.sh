#!/usr/bin/env bash
# `sealer serve` against Debian's docker-registry serving the same tree
# (issue 23 benchmark; goal: sealer <= 1.0x docker-registry's time).
#
# Workload: one container image of ~40 MB in 5 layers (4 x ~10 MB random,
#           incompressible as gzip layers are; 1 small), pushed with skopeo
#           to a scratch docker-registry; that registry's storage becomes
#           the `registry/` of a ClusterImage (`sealer build`, lite mode).
# Peers:    `sealer serve IMG` (bytes from the layer blob through the index,
#           sendfile) vs `docker-registry serve` with rootdirectory the
#           image's `registry/` as `sealer mount` shows it (read-only), as
#           sealer's installer serves it; both plain HTTP on 127.0.0.1.
# Client:   `skopeo copy docker://HOST/bench/img:v1 dir:DEST` (manifest,
#           config, every layer), DEST removed before each run; page cache
#           warm (one untimed copy from each first).
# Rounds:   ROUNDS rounds, each timing both peers, the order alternating per
#           round (interleaved, so load drifts hit both); median per peer.
# Ratio:    median(sealer serve) / median(docker-registry).
#
#   benches/serve.sh                    # SIZE_MB=40 ROUNDS=9 by default
#   SEALER=path/to/sealer benches/serve.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

SIZE_MB=${SIZE_MB:-40}
ROUNDS=${ROUNDS:-9}
for tool in docker-registry skopeo python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing: apt-get install $tool" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/sealer-serve-bench.XXXXXX")
pids=()
mnt=
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "$mnt" ] && "$sealer" --root "$work/store" umount "$mnt" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

build_sealer "$repo"
sealer=$SEALER_BIN
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "error: nothing listens on port $1" >&2
    return 1
}

echo "== an OCI image of ~${SIZE_MB} MB in 5 layers, pushed to a scratch docker-registry"
oci=$work/oci
mkdir -p "$oci/blobs/sha256"
echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
blob() { # FILE MEDIATYPE -> descriptor JSON
    local d s
    d=$(sha256sum "$1" | awk '{ print $1 }')
    s=$(stat -c %s "$1")
    mv "$1" "$oci/blobs/sha256/$d"
    printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$d" "$s"
}
layers=() diffs=()
per=$((SIZE_MB / 4))
for i in 1 2 3 4 5; do
    d=$work/l$i
    mkdir -p "$d/opt/$i"
    if [ "$i" -le 4 ]; then
        head -c $((per * 1024 * 1024)) /dev/urandom >"$d/opt/$i/data"
    else
        echo small >"$d/opt/$i/data"
    fi
    tar -C "$d" -cf "$work/l$i.tar" opt
    diffs+=("\"sha256:$(sha256sum "$work/l$i.tar" | awk '{ print $1 }')\"")
    layers+=("$(blob "$work/l$i.tar" application/vnd.oci.image.layer.v1.tar)")
done
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%s]},"config":{}}' \
    "$(IFS=,; echo "${diffs[*]}")" >"$work/config.json"
config=$(blob "$work/config.json" application/vnd.oci.image.config.v1+json)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
    "$config" "$(IFS=,; echo "${layers[*]}")" >"$work/manifest.json"
manifest=$(blob "$work/manifest.json" application/vnd.oci.image.manifest.v1+json)
printf '{"schemaVersion":2,"manifests":[%s]}' \
    "${manifest%\}},\"annotations\":{\"org.opencontainers.image.ref.name\":\"img\"}}" >"$oci/index.json"
start_registry "$work" false
pids+=("$REG_PID")
skopeo copy -q --dest-tls-verify=false "oci:$oci:img" "docker://$REG/bench/img:v1"
kill "$REG_PID"

echo "== the ClusterImage: that storage as its registry/ (sealer build, lite)"
ctx=$work/ctx
mkdir -p "$ctx/registry"
cp -a "$work/regdata/docker" "$ctx/registry/"
printf 'FROM scratch\nCOPY . .\n' >"$ctx/Kubefile"
"$sealer" --root "$work/store" build --build-mode lite -t bench:v1 "$ctx" >/dev/null
du -sh "$ctx/registry" | awk '{ print "registry/: " $1 }'

p1=$(free_port)
"$sealer" --root "$work/store" serve bench:v1 --addr "127.0.0.1:$p1" >"$work/serve.log" 2>&1 &
pids+=("$!")
mnt=$work/mnt
mkdir -p "$mnt"
"$sealer" --root "$work/store" mount bench:v1 "$mnt"
p2=$(free_port)
cat >"$work/ro.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $mnt/registry
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: true
http:
  addr: 127.0.0.1:$p2
YML
docker-registry serve "$work/ro.yml" >"$work/ro.log" 2>&1 &
pids+=("$!")
wait_port "$p1"
wait_port "$p2"

copy() { # PORT
    rm -rf "$work/dest"
    skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$1/bench/img:v1" "dir:$work/dest"
}
now() { date +%s.%N; }
copy "$p1"
copy "$p2"
echo "== $ROUNDS interleaved rounds of skopeo copy"
: >"$work/a" && : >"$work/b"
for ((r = 0; r < ROUNDS; r++)); do
    for which in $([ $((r % 2)) = 0 ] && echo "a b" || echo "b a"); do
        port=$p1
        [ "$which" = b ] && port=$p2
        t0=$(now)
        copy "$port"
        t1=$(now)
        echo "$t0 $t1" | awk '{ printf "%.6f\n", $2 - $1 }' >>"$work/$which"
    done
done
a=$(median <"$work/a")
b=$(median <"$work/b")
echo
echo "machine:          $(machine)"
echo "workload:         skopeo copy of bench/img:v1 (~${SIZE_MB} MB, 5 layers) to dir:, warm cache"
echo "sealer serve:     median ${a}s  (runs: $(paste -sd' ' "$work/a"))"
echo "docker-registry:  median ${b}s  (runs: $(paste -sd' ' "$work/b")) serving the sealer mount's registry/"
echo "ratio:            $(echo "$a $b" | awk '{ printf "%.2f", $1 / $2 }') (sealer serve / docker-registry; goal <= 1.0)"
