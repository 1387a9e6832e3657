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
#   lines that differ between 3 renders             -> nondeterministic.txt / -site (random secrets)
# helmrender runs inside NAME/ with the relative path `chart`, so no absolute path leaks into output.
set -euo pipefail
export TZ=UTC   # toDate/date use the local zone
: "${HELMRENDER:?set HELMRENDER=/path/to/helmrender}"
HELM_IMAGES=${HELM_IMAGES:-/work/shared/tools/peers/helm-images.py}
HELMRENDER=$(cd "$(dirname "$HELMRENDER")" && pwd)/$(basename "$HELMRENDER")
root=$(cd "$(dirname "$0")/.." && pwd)/tests/data/helm

# Charts that generate passwords/certificates (randAlphaNum, genCA, genSignedCert...) render
# differently on every run. Render twice more; the 1-based numbers of lines that changed (and the
# text before the first ':' on them) go to nondeterministic[-site].txt: compare those lines by
# shape only, every other line exactly. The line count never changed in these charts.
nondet() { # DIR SUFFIX [VALUES]
  local dir=$1 sfx=$2; shift 2
  rm -f "$dir/nondeterministic$sfx.txt"
  for i in 1 2; do (cd "$dir" && "$HELMRENDER" chart "$@" >"rendered$sfx.yaml.$i" 2>/dev/null); done
  python3 - "$dir/rendered$sfx.yaml" "$dir/nondeterministic$sfx.txt" <<'PY'
import sys
base = open(sys.argv[1]).read().split('\n')
runs = [open(sys.argv[1] + '.%d' % i).read().split('\n') for i in (1, 2)]
if any(len(r) != len(base) for r in runs):
    sys.exit('%s: line count changes between runs' % sys.argv[1])
diff = [n for n in range(len(base)) if any(r[n] != base[n] for r in runs)]
if diff:
    with open(sys.argv[2], 'w') as f:
        f.write('# lines of %s that differ between runs (random values in the chart); line: key\n' % sys.argv[1].rsplit('/', 1)[1])
        for n in diff:
            f.write('%d: %s\n' % (n + 1, base[n].split(':', 1)[0].strip()))
PY
  rm -f "$dir/rendered$sfx.yaml.1" "$dir/rendered$sfx.yaml.2"
}

one() { # DIR SUFFIX [VALUES]
  local dir=$1 sfx=$2; shift 2
  local out=rendered$sfx.yaml err=stderr$sfx.txt rc=0
  rm -f "$dir/$out" "$dir/$err" "$dir/exit$sfx.txt" "$dir/images$sfx.txt" "$dir/nondeterministic$sfx.txt"
  (cd "$dir" && "$HELMRENDER" chart "$@" >"$out" 2>"$err.raw") || rc=$?
  sed -E 's#^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} ##' "$dir/$err.raw" >"$dir/$err"
  rm -f "$dir/$err.raw"
  [ -s "$dir/$err" ] || rm -f "$dir/$err"
  if [ $rc -ne 0 ]; then
    echo $rc >"$dir/exit$sfx.txt"; rm -f "$dir/$out"
  else
    nondet "$dir" "$sfx" "$@"
    if [ "$(basename "$(dirname "$dir")")" = charts ]; then python3 "$HELM_IMAGES" "$dir/$out" >"$dir/images$sfx.txt"; fi
  fi
  printf '%-60s exit %s%s\n' "${dir#$root/}$sfx" $rc "$([ -f "$dir/$err" ] && echo ' (stderr)')"
}

shopt -s nullglob
if [ $# -gt 0 ]; then dirs=("$@"); else dirs=("$root"/charts/* "$root"/features/* "$root"/bad/*); fi
for d in "${dirs[@]}"; do
  d=$(cd "$d" && pwd)
  [ -d "$d/chart" ] || continue
  one "$d" ""
  if [ -f "$d/values-site.yaml" ]; then one "$d" -site values-site.yaml; fi
done
