#!/usr/bin/env bash
# Installs what the build and the tests need and is safe to run again:
# Debian packages (only when root and only those missing), then the .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(pkg-config libasound2-dev espeak-ng sox pulseaudio pulseaudio-utils libasound2-plugins
              libportaudio2 stress-ng tmux)
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
stamp=.venv/.v2m-installed
if [[ ! -f $stamp ]] || [[ -n $(find pyclient requirements-dev.txt bench/requirements.txt -newer "$stamp" -type f -print -quit) ]]; then
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt -r bench/requirements.txt
  rm -rf pyclient/build  # setuptools' in-tree build directory: never reuse a stale one
  # Editable: tests and tools import the tree itself, never a stale copy.
  .venv/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps -e ./pyclient
  touch "$stamp"
fi

scripts/fetch-models.sh
