#!/usr/bin/env bash
# The README's test command, for a Debian 12 machine with Rust, run as root
# from anywhere: installs what the tests need when missing (Debian packages,
# cargo-nextest), then runs every test with a per-test timeout. A missing
# prerequisite that cannot be installed fails loudly; nothing is skipped.
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
    echo "error: scripts/test.sh must run as root (FUSE, overlayfs mounts, apt-get)" >&2
    exit 1
fi

# Debian packages the tests use: skopeo and umoci read our store, fuse3 gives
# fusermount3, docker-registry serves registry tests, fuse-overlayfs is the
# peer in benchmarks, htpasswd (apache2-utils) makes the bcrypt password file
# of the basic-auth registry test, openssl signs the bearer-token test's JWTs. `tar` (GNU) unpacks layers for the overlayfs oracle.
# python3 serves http sources (`python3 -m http.server`); setsid leaves a RUN's process group.
# The rootless tests: newuidmap/newgidmap (uidmap) map /etc/subuid ranges, setpriv
# (util-linux) becomes the test user, useradd (passwd) makes it. `sealer serve`'s tests: curl
# (ranges, hostile paths) and containerd's daemon and ctr pulling from it.
declare -A package_of=(
    [skopeo]=skopeo
    [umoci]=umoci
    [fusermount3]=fuse3
    [docker-registry]=docker-registry
    [htpasswd]=apache2-utils
    [openssl]=openssl
    [fuse-overlayfs]=fuse-overlayfs
    [tar]=tar
    [mount]=mount
    [python3]=python3
    [setsid]=util-linux
    [setpriv]=util-linux
    [newuidmap]=uidmap
    [useradd]=passwd
    [curl]=curl
    [containerd]=containerd
    [ctr]=containerd
)
missing=()
for cmd in "${!package_of[@]}"; do
    if ! command -v "$cmd" >/dev/null 2>&1 && ! dpkg -s "${package_of[$cmd]}" >/dev/null 2>&1; then
        missing+=("${package_of[$cmd]}")
    fi
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [[ ! -c /dev/fuse ]]; then
    echo "error: /dev/fuse is missing: load the fuse module (modprobe fuse) or run the container with --device /dev/fuse" >&2
    exit 1
fi
# An ordinary user's RUN steps and --rw mounts open /dev/fuse in a user
# namespace: the rootless tests need it 0666, as a stock Debian system has it
# (some CI machines have it 0600).
if [[ $(stat -c %a /dev/fuse) != 666 ]]; then
    echo "making /dev/fuse usable by every user (chmod 0666), as on a stock Debian system"
    chmod 0666 /dev/fuse
fi
# The rootless tests' unprivileged user (the tests make it too when missing).
if ! id sealer-rootless >/dev/null 2>&1; then
    useradd --create-home --shell /bin/sh sealer-rootless
fi
if ! grep -qw overlay /proc/filesystems && ! modprobe overlay 2>/dev/null; then
    echo "error: the kernel has no overlayfs (modprobe overlay); the merge-rules test needs it" >&2
    exit 1
fi

# pyspdxtools (PyPI spdx-tools) validates the SBOMs of tests/sbom.rs. Debian 12's
# python3 refuses `pip install` outside a venv (PEP 668) unless told
# --break-system-packages; a pyenv or other non-Debian python needs no flag.
if ! command -v pyspdxtools >/dev/null 2>&1; then
    echo "installing: spdx-tools (pip)"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends python3-pip
    fi
    python3 -m pip install spdx-tools ||
        python3 -m pip install --break-system-packages spdx-tools
    hash -r
    if ! command -v pyspdxtools >/dev/null 2>&1; then
        # pip put it in a scripts directory that is not on PATH.
        scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
        export PATH="$scripts:$HOME/.local/bin:$PATH"
    fi
    if ! command -v pyspdxtools >/dev/null 2>&1; then
        echo "error: pyspdxtools is still missing after pip install spdx-tools" >&2
        exit 1
    fi
fi

# Rust from rustup lives in ~/.cargo/bin, which `sudo` drops from PATH.
if [[ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install --locked cargo-nextest
fi

cargo nextest run --workspace "$@"
