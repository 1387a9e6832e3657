#!/usr/bin/env bash
# Rendering the chart corpus (tests/data/helm/charts: 35 public charts, their
# default values) with sealer's Helm engine vs Helm 3.9.4's own (helmrender,
# built by ../shared/tools/peers/build-peers.sh), same run, interleaved: one
# process per chart for both, as a build renders each chart once.
# Usage: HELMRENDER=/tmp/peer/bin/helmrender benches/helm_render.sh [ROUNDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
helmrender=${HELMRENDER:-/tmp/peer/bin/helmrender}
[[ -x $helmrender ]] || { echo "error: helmrender not found at $helmrender (build it with ../shared/tools/peers/build-peers.sh; set HELMRENDER)" >&2; exit 1; }
cargo build --release --example helm_render >/dev/null
ours=target/release/examples/helm_render
charts=(tests/data/helm/charts/*/chart)
echo "workload: ${#charts[@]} charts of tests/data/helm/charts, default values, one process per chart; $rounds rounds, interleaved"
echo "peers: helmrender (Helm 3.9.4 engine, $(go version 2>/dev/null | awk '{print $3}'))"
time_all() { # tool -> seconds for the whole corpus
    local start end
    start=$(date +%s.%N)
    for c in "${charts[@]}"; do "$1" "$c" >/dev/null 2>&1 || true; done
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}
ours_t=(); helm_t=()
for ((r = 1; r <= rounds; r++)); do
    o=$(time_all "$ours"); h=$(time_all "$helmrender")
    ours_t+=("$o"); helm_t+=("$h")
    printf 'round %d: sealer %.3f s, helmrender %.3f s, ratio %.3f\n' "$r" "$o" "$h" "$(echo "$o / $h" | bc -l)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median "${ours_t[@]}"); mh=$(median "${helm_t[@]}")
printf 'median: sealer %.3f s, helmrender %.3f s, ratio %.3f (goal <= 0.5)\n' "$mo" "$mh" "$(echo "$mo / $mh" | bc -l)"
