# Sourced, not run: `zig_env ARCH` points cargo at ARCH-linux-gnu (x86_64 or aarch64)
# built the way the release wheels are, so that scripts/build-wheels.sh and
# `make test-arm64` share a target directory and compile the dependencies once.
#
# zig (PyPI's ziglang, in .venv) is the C compiler, archiver and linker, against glibc
# $ZIG_GLIBC: zig carries the headers and stub libraries of every glibc, so one x86_64
# machine links both architectures for an old glibc without a manylinux container or a
# cross sysroot, and Rust's std asks for nothing newer than 2.17. The binaries are
# stripped, and the registry's source paths in panic messages say /cargo, not the
# builder's home.
ZIG_GLIBC=2.17

zig_env() {
  local arch=$1 py=$PWD/.venv/bin/python
  case $arch in
    x86_64 | aarch64) ;;
    *)
      echo "no build for '$arch': the architectures are x86_64 and aarch64" >&2
      return 2
      ;;
  esac
  local triple=$arch-unknown-linux-gnu
  "$py" -m pip install -q --disable-pip-version-check -r requirements-wheels.txt
  rustup target list --installed | grep -qx "$triple" || rustup target add "$triple"
  mkdir -p build/zig
  # cc-rs names Rust's triple with --target=, which zig does not know (it has -target).
  _zig_wrapper "build/zig/cc-$arch" "$py" cc -target "$arch-linux-gnu.$ZIG_GLIBC"
  _zig_wrapper "build/zig/ar-$arch" "$py" ar
  local upper=${triple^^} lower=${triple//-/_}
  upper=${upper//-/_}
  # One target directory per architecture: sharing one, the two builds invalidate each
  # other's host artifacts and every switch recompiled everything (4 minutes each here).
  export CARGO_TARGET_DIR=$PWD/target/wheel-$arch CARGO_BUILD_TARGET=$triple
  export "CARGO_TARGET_${upper}_LINKER=$PWD/build/zig/cc-$arch"
  export "CC_$lower=$PWD/build/zig/cc-$arch" "AR_$lower=$PWD/build/zig/ar-$arch"
  export CARGO_PROFILE_RELEASE_STRIP=symbols
  # Stripped binaries carry no debug info, so none is built (the workspace's release
  # profile makes it for the test build's backtraces).
  export CARGO_PROFILE_RELEASE_DEBUG=0
  export RUSTFLAGS="--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
}

# _zig_wrapper PATH PYTHON ARGS...: an executable at PATH that runs `zig ARGS... "$@"`.
_zig_wrapper() {
  cat >"$1" <<EOF
#!/usr/bin/env bash
args=()
for a in "\$@"; do [[ \$a == --target=* ]] || args+=("\$a"); done
exec "$2" -m ziglang ${*:3} "\${args[@]}"
EOF
  chmod +x "$1"
}
