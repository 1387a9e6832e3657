#!/usr/bin/env bash
# POSIX conformance of writable mounts (issue 4): pjdfstest, in one run,
# against `sealer mount --rw` and against fuse-overlayfs over the same tree.
#
# Workload: the example ClusterRootfs (examples/cluster-rootfs) built as
#           base:v1 with the release binary; pjdfstest (the Rust rewrite from
#           crates.io, every test it has for Linux) run as root in a fresh
#           directory of each mount, with features posix_fallocate,
#           utime_now, utimensat and rename_ctime, naptime 0.01 s, and the
#           dummy users nobody/nogroup and daemon/daemon.
# Peers:    (a) `sealer mount --rw --allow-other base:v1` (upper directory
#           in the store); (b) fuse-overlayfs (Debian) with lowerdir = a
#           `cp -a` copy of `sealer mount base:v1`, an empty upperdir and
#           workdir, -o allow_other. Both upper directories on the same disk.
# Result:   pass/fail/skip counts of each, and the tests whose outcome
#           differs between the two.
#
#   benches/pjdfstest.sh              # LOGS=DIR keeps both full logs
#
# Installs what is missing: pjdfstest (cargo install pjdfstest --locked
# --root /opt/pjdfstest; set PJDFSTEST to use another binary) and Debian's
# fuse-overlayfs (apt-get). Needs root and /dev/fuse.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=benches/lib.sh
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || { echo "pjdfstest.sh: run as root (pjdfstest switches users)" >&2; exit 1; }

PJDFSTEST=${PJDFSTEST:-/opt/pjdfstest/bin/pjdfstest}
if [ ! -x "$PJDFSTEST" ]; then
    echo "== installing pjdfstest (cargo install pjdfstest --locked --root /opt/pjdfstest)"
    CARGO_TARGET_DIR=${TMPDIR:-/tmp}/pjdfstest-target \
        cargo install pjdfstest --locked --root /opt/pjdfstest --quiet
    PJDFSTEST=/opt/pjdfstest/bin/pjdfstest
fi
if ! command -v fuse-overlayfs >/dev/null; then
    echo "== installing fuse-overlayfs (apt-get)"
    apt-get install -y -qq fuse-overlayfs >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq fuse-overlayfs >/dev/null; }
fi

echo "== building sealer (cargo build --release)"
(cd "$repo" && cargo build --release --quiet --bin sealer)
sealer="${CARGO_TARGET_DIR:-$repo/target}/release/sealer"

work=$(mktemp -d "${TMPDIR:-/tmp}/sealer-pjdfstest.XXXXXX")
chmod 755 "$work" # pjdfstest switches to unprivileged users
store=$work/store
cleanup() {
    for d in "$work/ours" "$work/ro"; do
        mountpoint -q "$d" && "$sealer" --root "$store" umount "$d" >/dev/null
    done
    mountpoint -q "$work/fov" && fusermount3 -u "$work/fov"
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/pjdfstest.toml" <<'EOF'
[features]
posix_fallocate = {}
utime_now = {}
utimensat = {}
rename_ctime = {}

[settings]
naptime = 0.01
allow_remount = false

[dummy_auth]
entries = [
  ["nobody", "nogroup"],
  ["daemon", "daemon"],
]
EOF

"$sealer" --root "$store" build -t base:v1 "$repo/examples/cluster-rootfs" >/dev/null 2>&1

# run NAME MOUNTPOINT: pjdfstest in a fresh directory of the mount
run() {
    local name=$1 mnt=$2
    mkdir "$mnt/pjd"
    (cd "$mnt/pjd" && "$PJDFSTEST" -c "$work/pjdfstest.toml" -p "$mnt/pjd" >"$work/$name.log" 2>&1) || true
    awk '$1 ~ /::/ && /(ok|FAILED|skipped)$/ { print $1, $NF }' "$work/$name.log" | sort >"$work/$name.res"
}

echo "== pjdfstest on sealer mount --rw"
mkdir "$work/ours"
"$sealer" --root "$store" mount --rw --allow-other base:v1 "$work/ours" >/dev/null
run ours "$work/ours"
"$sealer" --root "$store" umount "$work/ours" >/dev/null

echo "== pjdfstest on fuse-overlayfs"
mkdir "$work/ro" "$work/lower" "$work/upper" "$work/workdir" "$work/fov"
"$sealer" --root "$store" mount base:v1 "$work/ro" >/dev/null
cp -a "$work/ro/." "$work/lower/"
"$sealer" --root "$store" umount "$work/ro" >/dev/null
fuse-overlayfs -o "lowerdir=$work/lower,upperdir=$work/upper,workdir=$work/workdir,allow_other" "$work/fov"
run fov "$work/fov"
fusermount3 -u "$work/fov"

if [ -n "${LOGS:-}" ]; then
    mkdir -p "$LOGS" && cp "$work"/ours.log "$work"/fov.log "$LOGS"/
fi

counts() { awk '{ n[$2]++ } END { printf "%d passed, %d failed, %d skipped", n["ok"], n["FAILED"], n["skipped"] }' "$1"; }
echo
echo "pjdfstest $("$PJDFSTEST" --version | awk '{ print $2 }'), $(machine)"
echo "sealer mount --rw : $(counts "$work/ours.res")"
echo "fuse-overlayfs    : $(counts "$work/fov.res")   ($(fuse-overlayfs --version 2>/dev/null | awk '/fuse-overlayfs/ { print $3; exit }'))"
echo
echo "tests whose outcome differs (name, sealer, fuse-overlayfs):"
join "$work/ours.res" "$work/fov.res" | awk '$2 != $3 { printf "  %-60s %-8s %s\n", $1, $2, $3 }'
