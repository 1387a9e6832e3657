#!/usr/bin/env bash
# Regenerates the golden files of the Helm corpus in tests/data/helm from the chart directories,
# with the real Helm 3.9.4 engine (helmrender, built from sealer v0.11.0's vendored tree; see
# tests/data/helm/README.md for the build command).
#
#   HELMRENDER=/tmp/peer/bin/helmrender [HELM_IMAGES=.../helm-images.py] scripts/helm-fixtures.sh [DIR...]
#
# For every tests/data/helm/{charts,features,bad}/NAME (or only the DIRs given):
#   (cd NAME && $HELMRENDER chart)                  -> rendered.yaml   (stdout, exactly)
#   (cd NAME && $HELMRENDER chart values-site.yaml) -> rendered-site.yaml, if values-site.yaml exists
#   python3 $HELM_IMAGES rendered*.yaml             -> images.txt / images-site.txt (charts/ only)
#   stderr, when not empty                          -> stderr.txt / stderr-site.txt (Go log's
#                                                      "YYYY/MM/DD HH:MM:SS " prefix removed)
#   exit code, when not 0                           -> exit.txt / exit-site.txt (and no rendered file)
# helmrender runs inside NAME/ with the relative path `chart`, so no absolute path leaks into output.
set -euo pipefail
export TZ=UTC   # toDate/date use the local zone
: "${HELMRENDER:?set HELMRENDER=/path/to/helmrender}"
HELM_IMAGES=${HELM_IMAGES:-/work/shared/tools/peers/helm-images.py}
HELMRENDER=$(cd "$(dirname "$HELMRENDER")" && pwd)/$(basename "$HELMRENDER")
root=$(cd "$(dirname "$0")/.." && pwd)/tests/data/helm

one() { # DIR SUFFIX [VALUES]
  local dir=$1 sfx=$2; shift 2
  local out=rendered$sfx.yaml err=stderr$sfx.txt rc=0
  rm -f "$dir/$out" "$dir/$err" "$dir/exit$sfx.txt" "$dir/images$sfx.txt"
  (cd "$dir" && "$HELMRENDER" chart "$@" >"$out" 2>"$err.raw") || rc=$?
  sed -E 's#^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} ##' "$dir/$err.raw" >"$dir/$err"
  rm -f "$dir/$err.raw"
  [ -s "$dir/$err" ] || rm -f "$dir/$err"
  if [ $rc -ne 0 ]; then
    echo $rc >"$dir/exit$sfx.txt"; rm -f "$dir/$out"
  elif [ "$(basename "$(dirname "$dir")")" = charts ]; then
    python3 "$HELM_IMAGES" "$dir/$out" >"$dir/images$sfx.txt"
  fi
  printf '%-60s exit %s%s\n' "${dir#$root/}$sfx" $rc "$([ -f "$dir/$err" ] && echo ' (stderr)')"
}

shopt -s nullglob
if [ $# -gt 0 ]; then dirs=("$@"); else dirs=("$root"/charts/* "$root"/features/* "$root"/bad/*); fi
for d in "${dirs[@]}"; do
  d=$(cd "$d" && pwd)
  [ -d "$d/chart" ] || continue
  one "$d" ""
  [ -f "$d/values-site.yaml" ] && one "$d" -site values-site.yaml
done
