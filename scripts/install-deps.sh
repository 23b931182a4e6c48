#!/usr/bin/env bash
# Installs what `make demo` (argument `demo`) or `make test` (argument `test`, the
# default) needs, and is safe to run again: Debian packages (only when root and only
# those missing), then the .venv, then the Silero model.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}

# The demo builds and runs the engine; the tests also make speech (espeak-ng, sox), run
# a private PulseAudio server, PortAudio (python-sounddevice), load (stress-ng), tmux.
APT_PACKAGES=(pkg-config libasound2-dev libasound2-plugins)
if [[ $what == test ]]; then
  APT_PACKAGES+=(espeak-ng sox pulseaudio pulseaudio-utils libportaudio2 stress-ng tmux)
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: missing Debian packages ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/pip install -q --disable-pip-version-check)
stamp=.venv/.v2m-installed-$what
inputs=(pyclient requirements-demo.txt)
[[ $what == test ]] && inputs+=(requirements-dev.txt bench/requirements.txt)
if [[ ! -f $stamp ]] || [[ -n $(find "${inputs[@]}" -newer "$stamp" -type f -print -quit) ]]; then
  if [[ $what == test ]]; then
    "${pip[@]}" -r requirements-demo.txt -r requirements-dev.txt -r bench/requirements.txt
  else
    "${pip[@]}" -r requirements-demo.txt
  fi
  rm -rf pyclient/build  # setuptools' in-tree build directory: never reuse a stale one
  # Editable: the tests and tools import the tree itself, never a stale copy; and
  # without an engine or model of its own (V2M_DEV_INSTALL): make builds and fetches them.
  V2M_DEV_INSTALL=1 "${pip[@]}" --force-reinstall --no-deps -e ./pyclient
  touch "$stamp"
fi

scripts/fetch-models.sh
