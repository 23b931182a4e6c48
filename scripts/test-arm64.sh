#!/usr/bin/env bash
# `make test-arm64`: the aarch64 release wheel (what `make wheels` builds, zig-linked
# from the sdist) installed into an ARM64 CPython (a Debian arm64 root made with
# debootstrap) and checked as a user meets it, then the engine's own tests and the
# reader's, against that wheel's engine, all under qemu-user. Needs root: it installs
# Debian packages, registers qemu with binfmt_misc and bind-mounts the project and
# /dev/shm into the arm64 root. Safe to run again; the arm64 root stays in
# build/arm64-root and the wheel in build/arm64-dist.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/zig-env.sh
TARGET=aarch64-unknown-linux-gnu
ARM_ROOT=$(realpath -m "${V2M_ARM64_ROOT:-build/arm64-root}")
DIST=build/arm64-dist
MIRROR=${V2M_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What runs on ARM64 against the wheel's engine: several reader processes bit-exact,
# overruns counted, torn frames refused, WriterGone, the samples-first path with
# Silero, the ordering (fence) tests, the native Silero kernel against ONNX Runtime's
# aarch64 wheel (from PyPI), and the reader's own rules.
PY_TESTS=(
  tests/test_ordering.py tests/test_torn_frames.py tests/test_stream.py tests/test_overrun.py
  tests/test_shutdown.py tests/test_samples_first.py tests/test_attach.py
  tests/test_reader_claims.py tests/test_utterance_rules.py tests/test_layout_conformance.py
  tests/test_validators_agree.py tests/test_silero_native.py
)
# In the arm64 root: Python with venv, NumPy and pytest, ALSA, speech material.
ARM_PACKAGES=(python3 python3-venv python3-numpy python3-pytest libasound2 espeak-ng sox)
ORT_WHEEL=onnxruntime==1.31.1

if [[ $(id -u) -ne 0 ]]; then
  echo "make test-arm64 needs root: it installs Debian packages, registers qemu-aarch64" \
    "with binfmt_misc and chroots into an arm64 Debian" >&2
  exit 2
fi
started=$SECONDS

# 1. The emulator and debootstrap (zig, from PyPI, cross-links: no cross toolchain).
packages=(qemu-user-static binfmt-support debootstrap)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Run aarch64 binaries through qemu transparently (in and out of the arm64 root).
[[ -e /proc/sys/fs/binfmt_misc/register ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64
if ! grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
  echo "qemu-aarch64 is not registered with binfmt_misc; is this a container without it?" >&2
  exit 2
fi

# 3. An arm64 Debian with CPython, NumPy and pytest (Debian's), and ONNX Runtime's
#    aarch64 wheel from PyPI unpacked beside them (the reference the native Silero
#    kernel is checked against).
if [[ ! -f $ARM_ROOT/.v2m-ready ]]; then
  if grep -q " $ARM_ROOT/" /proc/mounts; then
    echo "something is still mounted under $ARM_ROOT (an interrupted run?): umount -R it first" >&2
    exit 2
  fi
  echo "making the arm64 root in $ARM_ROOT (debootstrap, a few minutes)"
  rm -rf "$ARM_ROOT"
  debootstrap --arch=arm64 --variant=minbase \
    --include="$(IFS=,; echo "${ARM_PACKAGES[*]}")" bookworm "$ARM_ROOT" "$MIRROR" >/dev/null
  touch "$ARM_ROOT/.v2m-ready"
fi
# pip, inside, reaches PyPI the way the host's does: its resolver, the CA bundle it
# trusts (a proxy's own CA, where there is one) and its index and proxy settings.
cp -L /etc/resolv.conf "$ARM_ROOT/etc/resolv.conf"
host_ca=${PIP_CERT:-$(.venv/bin/python -m pip config get global.cert 2>/dev/null || true)}
host_ca=${host_ca:-/etc/ssl/certs/ca-certificates.crt}
mkdir -p "$ARM_ROOT/etc/ssl/certs" && cp -L "$host_ca" "$ARM_ROOT/etc/ssl/certs/v2m-host-ca.crt"
pip_network=(PIP_CERT=/etc/ssl/certs/v2m-host-ca.crt)
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST http_proxy https_proxy no_proxy; do
  [[ -z ${!var:-} ]] || pip_network+=("$var=${!var}")
done
mounted=()
cleanup() {
  for ((k = ${#mounted[@]} - 1; k >= 0; k--)); do umount -R "${mounted[k]}" || true; done
}
trap cleanup EXIT
bind() {
  mkdir -p "$2"
  mountpoint -q "$2" || { mount "${@:3}" "$1" "$2" && mounted+=("$2"); }
}
bind /proc "$ARM_ROOT/proc" --bind
bind /dev "$ARM_ROOT/dev" --rbind
bind "$PWD" "$ARM_ROOT/v2m" --bind
missing=()
for pkg in "${ARM_PACKAGES[@]}"; do
  chroot "$ARM_ROOT" dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  chroot "$ARM_ROOT" apt-get update -qq
  chroot "$ARM_ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
SITE=/opt/v2m-site
if [[ ! -d $ARM_ROOT$SITE/onnxruntime ]]; then
  wheels=$(mktemp -d)
  .venv/bin/pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_28_aarch64 -d "$wheels" "$ORT_WHEEL"
  mkdir -p "$ARM_ROOT$SITE"
  .venv/bin/python -m zipfile -e "$wheels"/onnxruntime-*.whl "$ARM_ROOT$SITE"
  rm -rf "$wheels"
fi
in_root() {
  chroot "$ARM_ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 V2M_TEST_TIMEOUT_SCALE=10 "$@"
}
in_root python3 -c 'import platform; assert platform.machine() == "aarch64", platform.machine()'

# 4. The release wheel for aarch64, and what the host can check of it: auditwheel's
#    verdict, twine, its file list, the sdist.
rm -rf "$DIST"
V2M_DIST=$DIST scripts/build-wheels.sh aarch64
wheel=$(echo "$DIST"/v2m_engine-*-manylinux_2_17_aarch64.*.whl)
V2M_WHEEL=$PWD/$wheel .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_wheels.py \
  -k "not installs"

# 5. The wheel installed as a user installs it, under qemu: a fresh venv, no toolchain,
#    numpy and ONNX Runtime from PyPI; the engine, spawn + utterances, the tools.
in_root "${pip_network[@]}" V2M_WHEEL="/v2m/$wheel" sh -c "cd /v2m && python3 -m pytest -q -p no:cacheprovider \
  tests/test_wheels.py -k 'installs and current'"

# 6. The Rust tests of the engine and the ring it writes, cross-built the way the wheel
#    is, run by qemu with the arm64 root's loader and libraries. Clippy looks at the
#    engine only: the one crate with code for each architecture (the libasound
#    trampolines, the Silero kernel's x86 path). The bridge has none, and its tests
#    would compile Zenoh for aarch64 a second time (with their features, not the
#    wheel's): most of this build's 3 minutes in CI. Its aarch64 binary runs in step 5.
(
  zig_env aarch64
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L $ARM_ROOT"
  cargo clippy --release --locked -p v2m-engine --all-targets -- -D warnings
  cargo test --release --locked -p v2m-layout -p v2m-ring -p v2m-engine
)

# 7. The reader's tests on ARM64 CPython against the wheel's engine, installed into a
#    venv in the arm64 root (Debian's NumPy and pytest seen through it).
VENV=/opt/v2m-venv
[[ -x $ARM_ROOT$VENV/bin/python ]] || in_root python3 -m venv --system-site-packages "$VENV"
in_root "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-index --no-deps \
  --force-reinstall "/v2m/$wheel"
in_root PYTHONPATH="/v2m/tests:$SITE" V2M_ENGINE="$VENV/bin/v2m-engine" \
  ORT_DYLIB_PATH="$SITE/onnxruntime/capi/libonnxruntime.so.1.31.1" \
  sh -c "cd /v2m && $VENV/bin/python -m pytest -q -p no:cacheprovider ${PY_TESTS[*]}"
echo "make test-arm64: passed in $((SECONDS - started)) s"
