#!/usr/bin/env bash
# `make wheels`: the release artifacts into dist/ (or $V2M_DIST): a manylinux wheel
# for x86_64 and one for aarch64, and the sdist. Arguments pick architectures
# (`scripts/build-wheels.sh x86_64`: that wheel only, no sdist). Safe to run again.
#
# One wheel per architecture serves every CPython 3.9 and later, free-threaded too
# (py3-none: the package is pure Python, the engine and bridge are programs). Both are
# linked by zig (PyPI's ziglang) against glibc $GLIBC: zig carries the headers and
# stub libraries of every glibc, so one x86_64 machine links both architectures for an
# old glibc without a manylinux container or a cross sysroot, and Rust's std asks for
# nothing newer than 2.17. Nothing is linked but glibc's own libraries (the engine
# loads libasound at run time: engine/src/source/capture/libasound.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
GLIBC=2.17
DIST=$(realpath -m "${V2M_DIST:-dist}")
PY=$PWD/.venv/bin/python
ARCHES=("$@")
((${#ARCHES[@]})) || ARCHES=(x86_64 aarch64)
# Wheels are built in a target directory of their own: the tests' engine (with the
# PipeWire host) stays in target/release.
export CARGO_TARGET_DIR=$PWD/target/wheel
started=$SECONDS

"$PY" -m pip install -q --disable-pip-version-check -r requirements-wheels.txt
mkdir -p "$DIST" build/zig

# zig_wrapper PATH ARGS...: an executable at PATH that runs `zig ARGS... "$@"`.
zig_wrapper() {
  cat >"$1" <<EOF
#!/usr/bin/env bash
args=()
for a in "\$@"; do [[ \$a == --target=* ]] || args+=("\$a"); done
exec "$PY" -m ziglang ${*:2} "\${args[@]}"
EOF
  chmod +x "$1"
}

for arch in "${ARCHES[@]}"; do
  case $arch in
    x86_64 | aarch64) ;;
    *)
      echo "no wheel for '$arch': the architectures are x86_64 and aarch64" >&2
      exit 2
      ;;
  esac
  triple=$arch-unknown-linux-gnu
  rustup target list --installed | grep -qx "$triple" || rustup target add "$triple"
  # zig's compiler and archiver for this target, as cargo and cc-rs call them; cc-rs
  # names Rust's triple with --target=, which zig does not know (it has -target).
  zig_wrapper "build/zig/cc-$arch" cc -target "$arch-linux-gnu.$GLIBC"
  zig_wrapper "build/zig/ar-$arch" ar
  upper=${triple^^}
  upper=${upper//-/_}
  platform=manylinux_${GLIBC/./_}_$arch.manylinux2014_$arch
  echo "building the $arch wheel ($platform)"
  rm -rf pyclient/build
  env "CARGO_TARGET_${upper}_LINKER=$PWD/build/zig/cc-$arch" \
    "CC_${triple//-/_}=$PWD/build/zig/cc-$arch" "AR_${triple//-/_}=$PWD/build/zig/ar-$arch" \
    CARGO_BUILD_TARGET="$triple" V2M_WHEEL_PLATFORM="$platform" \
    "$PY" -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation \
    -w "$DIST" ./pyclient
  rm -rf pyclient/build
done

if (($# == 0)); then
  echo "building the sdist"
  "$PY" -m build -q --sdist --no-isolation -o "$DIST" pyclient >/dev/null
  "$PY" -m twine check --strict "$DIST"/*
fi
ls -l "$DIST"
echo "make wheels: done in $((SECONDS - started)) s"
