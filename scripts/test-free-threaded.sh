#!/usr/bin/env bash
# `make test-free-threaded`: the Python tests on a free-threaded CPython (no GIL).
#
# The interpreter: $V2M_FT_PYTHON, else python3.13t on PATH, else CPython 3.13 built
# with --disable-gil from Debian's source package (trixie's python3.13, fetched by
# apt-get source through a private apt configuration: the system's apt sources are not
# touched) into build/python3.13t (about 3 minutes on 2 cores). Its venv is .venv-ft.
# Safe to run again: what exists is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=$PWD/build/python3.13t
MIRROR=${V2M_DEBIAN_MIRROR:-http://deb.debian.org/debian}
VENV=.venv-ft
# Build dependencies of CPython's modules the tests use (ssl for pip, zlib, ctypes...).
BUILD_PACKAGES=(gcc make xz-utils libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev)
started=$SECONDS
PY_TESTS=(
  tests/test_attach.py tests/test_client.py tests/test_design_interface.py tests/test_gil.py
  tests/test_group_reader.py tests/test_layout_conformance.py tests/test_ordering.py
  tests/test_overrun.py tests/test_reader_claims.py tests/test_samples_first.py
  tests/test_shutdown.py tests/test_spawn.py tests/test_speech_rule.py tests/test_stream.py
  tests/test_torn_frames.py tests/test_utterance_rules.py tests/test_validators_agree.py
  tests/test_wake.py tests/test_tools.py tests/test_recorder_hardening.py
  tests/test_exporter_hardening.py tests/test_signals_and_pipes.py
)

build_cpython() {
  local missing=()
  for pkg in "${BUILD_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "building a free-threaded CPython needs: sudo apt-get install ${missing[*]}" >&2
      exit 2
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  local work=build/cpython-src
  rm -rf "$work" && mkdir -p "$work"/apt/{lists/partial,cache/archives/partial}
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" \
    >"$work/apt/sources.list"
  local apt=(-o "Dir::Etc::SourceList=$PWD/$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$PWD/$work/apt/lists" -o "Dir::Cache=$PWD/$work/apt/cache"
    -o APT::Sandbox::User=root)
  echo "fetching Debian's python3.13 source package (trixie)"
  apt-get "${apt[@]}" -qq update
  (cd "$work" && apt-get "${apt[@]}" -qq source --download-only python3.13 >/dev/null)
  tar -xf "$work"/python3.13_*.orig.tar.xz -C "$work"
  echo "building CPython with --disable-gil into $PREFIX (a few minutes)"
  (
    cd "$work"/Python-3.13.*/
    # No test modules: CPython's own test suite is not run here, and building,
    # installing and byte-compiling it is CI time spent for nothing.
    ./configure -q --prefix="$PREFIX" --disable-gil --disable-test-modules >/dev/null
    make -s -j"$(nproc)" >/dev/null 2>&1
    make -s install >/dev/null 2>&1
  )
  rm -rf "$work"
}

py=${V2M_FT_PYTHON:-$(command -v python3.13t || true)}
if [[ -z $py ]]; then
  py=$PREFIX/bin/python3.13t
  [[ -x $py ]] || build_cpython
fi
if [[ ! -x $VENV/bin/python ]]; then
  "$py" -m venv "$VENV"
fi
stamp=$VENV/.v2m-installed
if [[ ! -f $stamp || $0 -nt $stamp ]]; then
  # What the tests need; the lint tools and the benchmark peers have no free-threaded
  # wheels (mypy, pyzmq, iceoryx2, sounddevice, matplotlib) and are not tested here.
  "$VENV"/bin/pip install -q --disable-pip-version-check numpy pytest rich prometheus-client \
    onnxruntime==1.31.1 setuptools-rust wheel
  V2M_DEV_INSTALL=1 "$VENV"/bin/pip install -q --disable-pip-version-check --no-deps -e ./pyclient
  touch "$stamp"
fi
# PYTHON_GIL=0: an extension that does not declare itself free-threading safe would
# otherwise turn the GIL back on when imported; the run checks it stays off.
export PYTHON_GIL=0
"$VENV"/bin/python - <<'EOF'
import sys

import numpy, v2m  # noqa: F401, E401

assert not sys._is_gil_enabled(), "the GIL is on"
print(f"free-threaded CPython {sys.version.split()[0]}, GIL off, numpy {numpy.__version__}")
EOF
# The tests of what runs in the user's interpreter: the reader (threads, asyncio,
# utterances, wake, attach, shutdown), spawn, the tools. The engine's own tests (capture,
# hosts, CLI, hardening, VAD, bridge, benches) drive a Rust process and gain nothing
# from another interpreter; make test runs them. This keeps CI's fresh run in budget.
"$VENV"/bin/python -m pytest -q -p no:cacheprovider "${PY_TESTS[@]}"
V2M_READER_FENCES=always "$VENV"/bin/python -m pytest -q -p no:cacheprovider \
  tests/test_torn_frames.py tests/test_stream.py tests/test_overrun.py \
  tests/test_samples_first.py tests/test_ordering.py
# The release wheel installed into a fresh free-threaded venv, as a user would (the
# current interpreter builds it: after make test, from cargo's cache).
V2M_FT_PYTHON=$py .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_wheels.py \
  -k "installs and free"
echo "make test-free-threaded: passed in $((SECONDS - started)) s"
