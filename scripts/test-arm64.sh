#!/usr/bin/env bash
# `make test-arm64`: the engine cross-built for aarch64-unknown-linux-gnu and the
# pure-Python reader on an ARM64 CPython (a Debian arm64 root made with debootstrap),
# run against each other under qemu-user. Needs root: it installs Debian packages,
# registers qemu with binfmt_misc and bind-mounts the project and /dev/shm into the
# arm64 root. Safe to run again; the arm64 root stays in build/arm64-root.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
ARM_ROOT=${V2M_ARM64_ROOT:-build/arm64-root}
MIRROR=${V2M_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What runs on ARM64: the engine's own tests, then the reader's, against the ARM64 engine:
# several reader processes bit-exact, overruns counted, torn frames refused, WriterGone,
# the samples-first path with Silero, and the ordering (fence) tests.
# The native Silero kernel against ONNX Runtime's aarch64 wheel (from PyPI), and the
# reader's own rules.
PY_TESTS=(
  tests/test_ordering.py tests/test_torn_frames.py tests/test_stream.py tests/test_overrun.py
  tests/test_shutdown.py tests/test_samples_first.py tests/test_attach.py
  tests/test_reader_claims.py tests/test_utterance_rules.py tests/test_layout_conformance.py
  tests/test_validators_agree.py tests/test_silero_native.py
)
# In the arm64 root: Python with NumPy and pytest, ALSA for the engine, speech material.
ARM_PACKAGES=(python3 python3-numpy python3-pytest libasound2 espeak-ng sox)
ORT_WHEEL=onnxruntime==1.31.1

if [[ $(id -u) -ne 0 ]]; then
  echo "make test-arm64 needs root: it installs Debian packages, registers qemu-aarch64" \
    "with binfmt_misc and chroots into an arm64 Debian" >&2
  exit 2
fi
started=$SECONDS

# 1. Cross toolchain, emulator, arm64 ALSA to link against.
dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64 && apt-get update -qq; }
packages=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static binfmt-support debootstrap libasound2-dev:arm64)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

# 2. Run aarch64 binaries through qemu transparently (in and out of the arm64 root).
[[ -e /proc/sys/fs/binfmt_misc/register ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64
if ! grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
  echo "qemu-aarch64 is not registered with binfmt_misc; is this a container without it?" >&2
  exit 2
fi

# 3. An arm64 Debian with CPython, NumPy and pytest (Debian's), and ONNX Runtime's
#    aarch64 wheel from PyPI unpacked beside them (the reference the native Silero
#    kernel is checked against, and the engine's --vad-backend ort).
if [[ ! -f $ARM_ROOT/.v2m-ready ]]; then
  if grep -q " $(realpath -m "$ARM_ROOT")/" /proc/mounts; then
    echo "something is still mounted under $ARM_ROOT (an interrupted run?): umount -R it first" >&2
    exit 2
  fi
  echo "making the arm64 root in $ARM_ROOT (debootstrap, a few minutes)"
  rm -rf "$ARM_ROOT"
  debootstrap --arch=arm64 --variant=minbase \
    --include="$(IFS=,; echo "${ARM_PACKAGES[*]}")" bookworm "$ARM_ROOT" "$MIRROR" >/dev/null
  touch "$ARM_ROOT/.v2m-ready"
fi
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

# 4. The engine and the Rust tests, cross-built and run under qemu.
export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig
cargo clippy --release --locked --target "$TARGET" --all-targets -- -D warnings
cargo build --release --locked --target "$TARGET" -p v2m-engine
cargo test --release --locked --target "$TARGET" --workspace

# 5. The reader's tests on ARM64 CPython against the ARM64 engine, inside the arm64 root.
chroot "$ARM_ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
  PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="/v2m/pyclient:/v2m/tests:$SITE" \
  ORT_DYLIB_PATH="$SITE/onnxruntime/capi/libonnxruntime.so.1.31.1" \
  V2M_ENGINE="/v2m/target/$TARGET/release/v2m-engine" V2M_TEST_TIMEOUT_SCALE=10 \
  sh -c "cd /v2m && python3 -c 'import platform; assert platform.machine() == \"aarch64\"' &&
         python3 -m pytest -q -p no:cacheprovider ${PY_TESTS[*]}"
echo "make test-arm64: passed in $((SECONDS - started)) s"
