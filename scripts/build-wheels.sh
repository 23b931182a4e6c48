#!/usr/bin/env bash
# `make wheels`: the release artifacts into dist/ (or $V2M_DIST): the sdist, and a
# manylinux wheel for x86_64 and one for aarch64 built from it. Arguments pick the
# architectures (`scripts/build-wheels.sh x86_64`: the sdist and that wheel). Safe to
# run again: the second run reuses cargo's build.
#
# One wheel per architecture serves every CPython 3.9 and later, free-threaded too
# (py3-none: the package is pure Python, the engine and bridge are programs), linked by
# zig against glibc 2.17 (scripts/zig-env.sh says why). Nothing is linked but glibc's
# own libraries: the engine loads libasound at run time
# (engine/src/source/capture/libasound.rs). Each wheel is built from the unpacked sdist,
# as pip builds one on a machine no wheel fits, so every wheel build proves the sdist
# complete.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/zig-env.sh
DIST=$(realpath -m "${V2M_DIST:-dist}")
PY=$PWD/.venv/bin/python
ARCHES=("$@")
((${#ARCHES[@]})) || ARCHES=(x86_64 aarch64)
started=$SECONDS

"$PY" -m pip install -q --disable-pip-version-check -r requirements-wheels.txt
mkdir -p "$DIST"
echo "building the sdist"
sdist=$("$PY" -m build --sdist --no-isolation -o "$DIST" pyclient | sed -n 's/^Successfully built //p')
[[ -n $sdist ]] || { echo "python -m build made no sdist" >&2; exit 1; }
rm -rf pyclient/build
# A fixed place to unpack it, so that cargo's fingerprints (paths, mtimes) match the
# last build and a second run compiles nothing.
tree=build/sdist/${sdist%.tar.gz}
rm -rf build/sdist && mkdir -p build/sdist && tar -xzf "$DIST/$sdist" -C build/sdist

for arch in "${ARCHES[@]}"; do
  (
    zig_env "$arch"
    platform=manylinux_${ZIG_GLIBC/./_}_$arch.manylinux2014_$arch
    echo "building the $arch wheel ($platform) from $sdist"
    V2M_WHEEL_PLATFORM=$platform "$PY" -m pip wheel -q --disable-pip-version-check --no-deps \
      --no-build-isolation -w "$DIST" "./$tree"
  )
done
rm -rf "$tree/build"

"$PY" -m twine check --strict "$DIST/$sdist" "$DIST"/*.whl
ls -l "$DIST"
echo "make wheels: done in $((SECONDS - started)) s"
