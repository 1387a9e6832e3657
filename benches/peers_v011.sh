#!/usr/bin/env bash
# build, push and pull of one ClusterRootfs-like image: sealer against the
# real sealer v0.11 and skopeo, in the same run, rounds interleaved
# (issue 26, goal 4). Prints the workload, the peers, each operation's
# median and range and the ratios.
#
# Workload: a ~460 MB ClusterRootfs (SIZE_MB) in 6 COPY layers: bin/ = 4 big
#           binaries made of real executables from /usr (compressible as
#           kubelet or containerd are), statics/ = 6000 small text files,
#           registry/docker/registry/v2 = a docker-registry tree (random,
#           incompressible blobs of 0.2-12 MB as container image layers are,
#           plus their link files), etc/, scripts/, Metadata.
# Registry: Debian's docker-registry on 127.0.0.1 (filesystem storage).
# Peers:    sealer v0.11.0 built from source (`sealer-0.11`, see
#           ../../shared/tools/peers/build-peers.sh; buildah storage, overlay
#           driver, a fresh graphroot per run through CONTAINERS_STORAGE_CONF);
#           skopeo (push: oci:<our store> -> docker://; pull: docker:// -> oci:,
#           keeping gzip, no index, no fsync).
# Runs:     every run starts from empty stores; pushes from an emptied
#           registry; every round runs each tool once, in rotating order.
# Ratio:    median(sealer) / median(peer); below 1.0 is faster.
#
#   benches/peers_v011.sh                         # SIZE_MB=460 ROUNDS=5
#   SEALER=path/to/sealer V011=/tmp/peer/bin/sealer-0.11 benches/peers_v011.sh
#   BASELINE=path/to/older/sealer benches/peers_v011.sh   # its pull timed too
#   ONLY=pull benches/peers_v011.sh                       # build, push or pull
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

SIZE_MB=${SIZE_MB:-460}
ROUNDS=${ROUNDS:-5}
V011=${V011:-/tmp/peer/bin/sealer-0.11}
[ "$(id -u)" = 0 ] || { echo "error: run as root (sealer v0.11's buildah storage)" >&2; exit 1; }
for tool in docker-registry skopeo "$V011"; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install docker-registry skopeo; sealer v0.11: build-peers.sh)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/sealer-peers.XXXXXX")
reg_pid=
cleanup() {
    [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null || true
    umount "$work/v011-graph/overlay" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

build_sealer "$repo"
sealer=$SEALER_BIN

echo "== generating a ~${SIZE_MB} MB ClusterRootfs in $work/ctx"
ctx=$work/ctx
mkdir -p "$ctx"/{bin,statics,etc,scripts} "$ctx/registry/docker/registry/v2"/{blobs/sha256,repositories}
bin_mb=$((SIZE_MB * 32 / 100))
small=6000
reg_mb=$((SIZE_MB - bin_mb - small * 3 / 1000))
# A few big binaries (kubelet, kubeadm, kubectl, containerd): real code.
find /usr/lib /usr/bin /usr/libexec -type f -size +100k 2>/dev/null | sort >"$work/exe.list"
for i in 0 1 2 3; do
    out=$ctx/bin/$(echo kubelet kubeadm kubectl containerd | cut -d' ' -f$((i + 1)))
    : >"$out"
    while read -r f; do
        [ "$(stat -c %s "$out")" -ge $((bin_mb * 1048576 / 4)) ] && break
        cat "$f" >>"$out" 2>/dev/null || true
    done < <(awk -v i="$i" 'NR % 4 == i' "$work/exe.list")
    truncate -s $((bin_mb * 1048576 / 4)) "$out"
    chmod 755 "$out"
done
# Many small files: manifests, charts, docs.
python3 - "$ctx/statics" "$small" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
words = "apiVersion kind metadata name namespace spec containers image ports labels selector replicas".split()
for i in range(n):
    d = os.path.join(root, f"chart-{i // 100}", "templates")
    os.makedirs(d, exist_ok=True)
    size = rnd.randint(200, 6000)
    text = " ".join(rnd.choice(words) for _ in range(size // 6))
    open(os.path.join(d, f"f{i}.yaml"), "w").write(text[:size] + "\n")
PY
# A docker-registry tree: blobs of random bytes, repositories with links.
python3 - "$ctx/registry/docker/registry/v2" "$reg_mb" <<'PY'
import hashlib, os, random, sys
root, mb = sys.argv[1], int(sys.argv[2])
rnd = random.Random(11)
left, k = mb << 20, 0
while left > 0:
    size = min(left, rnd.randint(200 << 10, 12 << 20))
    data = os.urandom(size)
    h = hashlib.sha256(data).hexdigest()
    d = os.path.join(root, "blobs/sha256", h[:2], h)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "data"), "wb").write(data)
    l = os.path.join(root, f"repositories/library/img{k % 12}/_layers/sha256", h)
    os.makedirs(l, exist_ok=True)
    open(os.path.join(l, "link"), "w").write("sha256:" + h)
    left -= size
    k += 1
PY
printf 'apiVersion: sealer.io/v2\nkind: Cluster\n' >"$ctx/etc/Clusterfile"
printf 'kind: ClusterConfiguration\n' >"$ctx/etc/kubeadm.yml"
printf '#!/bin/sh\necho init\n' >"$ctx/scripts/init.sh"
echo '{"version":"v1.22.15","arch":"amd64"}' >"$ctx/Metadata"
cat >"$ctx/Kubefile" <<'EOF'
FROM scratch
COPY bin bin
COPY registry registry
COPY statics statics
COPY etc etc
COPY scripts scripts
COPY Metadata .
EOF
bytes=$(du -sb --exclude=Kubefile "$ctx" | awk '{ print $1 }')
files=$(find "$ctx" -type f | wc -l)

echo "== starting docker-registry"
start_registry "$work" false
reg_pid=$REG_PID reg=$REG

# sealer v0.11: buildah storage in a fresh graphroot per run.
cat >"$work/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$work/v011-run"
graphroot = "$work/v011-graph"
EOF
export CONTAINERS_STORAGE_CONF=$work/storage.conf
# (its overlay driver leaves graphroot/overlay bind-mounted on itself)
v011_reset="umount '$work/v011-graph/overlay' 2>/dev/null; rm -rf '$work/v011-graph' '$work/v011-run'"

# The images every push and pull run starts from (untimed).
"$sealer" --root "$work/src" build --build-mode lite -t bench/k8s:v1 "$ctx" >/dev/null
"$V011" build --build-mode lite -t "$reg/bench/v011:v1" -f "$ctx/Kubefile" "$ctx" >/dev/null 2>&1
cp -a "$work/v011-graph" "$work/v011-built"
pushed_by_us() {
    "$sealer" --root "$work/src" push -q bench/k8s:v1 "$reg/bench/ours:v1" >/dev/null
}

# ---- timing: rounds of every tool, rotating order ----
declare -A T C # wall and CPU (user + sys) seconds per run
run_one() { # NAME PREPARE CMD
    bash -c "$2" >/dev/null 2>&1
    local t0 t1
    t0=$(date +%s.%N)
    if ! /usr/bin/time -f '%U %S' -o "$work/cpu" bash -c "$3" >"$work/out.log" 2>&1; then
        echo "failed: $1: $3" >&2
        cat "$work/out.log" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    T[$1]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') "
    C[$1]+="$(awk '{ printf "%.2f", $1 + $2 }' "$work/cpu") "
}
rounds() { # NAME PREPARE CMD [NAME PREPARE CMD]...
    local -a args=("$@")
    local n=$((${#args[@]} / 3)) r k j
    for ((k = 0; k < n; k++)); do # warm-up
        run_one "${args[k * 3]}" "${args[k * 3 + 1]}" "${args[k * 3 + 2]}"
        T[${args[k * 3]}]= C[${args[k * 3]}]=
    done
    for ((r = 0; r < ROUNDS; r++)); do
        for ((j = 0; j < n; j++)); do
            k=$(((j + r) % n))
            run_one "${args[k * 3]}" "${args[k * 3 + 1]}" "${args[k * 3 + 2]}"
        done
    done
}
med() { tr ' ' '\n' <<<"${T[$1]}" | grep . | median; }
cpu() { tr ' ' '\n' <<<"${C[$1]}" | grep . | median; }
range() { tr ' ' '\n' <<<"${T[$1]}" | grep . | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }'; }
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { printf "%.2f", a / b }'; }

empty_registry="rm -rf '$work/regdata/docker'"

ONLY=${ONLY:-build push pull}
want() { [[ " $ONLY " == *" $1 "* ]]; }

if want build; then
echo "== build ($ROUNDS rounds)"
rounds \
    "build sealer" "rm -rf '$work/b'" "'$sealer' --root '$work/b' build --build-mode lite -t bench/k8s:v1 '$ctx'" \
    "build v0.11" "$v011_reset" "'$V011' build --build-mode lite -t bench/k8s:v1 -f '$ctx/Kubefile' '$ctx'"

fi
if want push; then
echo "== push ($ROUNDS rounds, registry emptied before each)"
rounds \
    "push sealer" "$empty_registry; rm -rf '$work/src/compressed'" "'$sealer' --root '$work/src' push -q bench/k8s:v1 '$reg/bench/ours:v1'" \
    "push v0.11" "$empty_registry; $v011_reset; cp -a '$work/v011-built' '$work/v011-graph'" "'$V011' push --skip-tls-verify '$reg/bench/v011:v1'" \
    "push skopeo" "$empty_registry" "skopeo copy -q --dest-tls-verify=false 'oci:$work/src:bench/k8s:v1' 'docker://$reg/bench/skopeo:v1'"

fi

# What the pulls fetch: the image as sealer pushed it (gzip members and
# their table) and as sealer v0.11 pushed it (one gzip stream per layer).
bash -c "$empty_registry"
pushed_by_us
bash -c "$v011_reset"
cp -a "$work/v011-built" "$work/v011-graph"
"$V011" push --skip-tls-verify "$reg/bench/v011:v1" >/dev/null 2>&1
gz=$(du -sb "$work/regdata/docker/registry/v2/blobs" | awk '{ print $1 }')

baseline=()
[ -n "${BASELINE:-}" ] && baseline=("pull baseline" "rm -rf '$work/p3'" "'$BASELINE' --root '$work/p3' pull -q '$reg/bench/ours:v1'")
if want pull; then
echo "== pull ($ROUNDS rounds, empty stores)"
rounds "${baseline[@]}" \
    "pull sealer" "rm -rf '$work/p'" "'$sealer' --root '$work/p' pull -q '$reg/bench/ours:v1'" \
    "pull sealer (v0.11's push)" "rm -rf '$work/p2'" "'$sealer' --root '$work/p2' pull -q '$reg/bench/v011:v1'" \
    "pull v0.11" "$v011_reset" "'$V011' pull --skip-tls-verify '$reg/bench/ours:v1'" \
    "pull skopeo" "rm -rf '$work/oci'" "skopeo copy -q --src-tls-verify=false 'docker://$reg/bench/ours:v1' 'oci:$work/oci:v1'"
fi

row() { # OP OURS PEER
    [ -n "${T[$2]:-}" ] && [ -n "${T[$3]:-}" ] || return 0
    printf '| %s | %s s (%s), %s CPU-s | %s | %s s (%s), %s CPU-s | %s |\n' "$1" "$(med "$2")" "$(range "$2")" "$(cpu "$2")" \
        "$3" "$(med "$3")" "$(range "$3")" "$(cpu "$3")" "$(ratio "$2" "$3")"
}
cat <<EOF

## sealer vs sealer v0.11 and skopeo (benches/peers_v011.sh)

Workload: a ClusterRootfs of $((bytes / 1000000)) MB in $files files, 6 COPY layers (4 big binaries of
real executables, 6000 small text files, a docker-registry tree of random
blobs); both registries' blobs together $((gz / 1000000)) MB. Local Debian docker-registry
$(docker-registry --version | awk '{ print $3 }') on 127.0.0.1. Machine: $(machine), load $(cut -d' ' -f1-3 /proc/loadavg).
Peers: sealer v0.11.0 ($V011, built from source with $("$V011" version 2>/dev/null | grep -o '"goVersion":"[^"]*"' | cut -d'"' -f4)), skopeo $(skopeo --version | awk '{ print $3 }').
Median (range) of $ROUNDS interleaved rounds after a warm-up, and the median CPU time
(user + sys, the tool's process tree; not the registry's); fresh stores every run.

| operation | sealer | peer | peer time | sealer / peer |
| --- | --- | --- | --- | --- |
$(row build "build sealer" "build v0.11")
$(row push "push sealer" "push v0.11")
$(row push "push sealer" "push skopeo")
$(row pull "pull sealer" "pull v0.11")
$(row pull "pull sealer" "pull skopeo")
$(row "pull of v0.11's push" "pull sealer (v0.11's push)" "pull v0.11")
$(row "pull, sealer before issue 26" "pull baseline" "pull v0.11")
EOF
for k in "${!T[@]}"; do echo "times: $k: ${T[$k]}(CPU: ${C[$k]})"; done
if [ -n "${HOLD:-}" ]; then # keep the registry and images up for profiling
    echo "holding $HOLD s: work=$work registry=$reg"
    sleep "$HOLD"
fi
