#!/usr/bin/env bash
# Installs what `make demo` (argument `demo`), `make test` (argument `test`, the
# default) or `make lint` (argument `lint`: the .venv's lint tools only, no apt, no
# model) needs, and is safe to run again: Debian packages (only when root and only
# those missing), then the .venv, then the Silero model.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}

# The demo builds and runs the engine; the tests also make speech (espeak-ng, sox), run
# a private PulseAudio server, PortAudio (python-sounddevice), load (stress-ng), tmux,
# and a browser for the docs.
APT_PACKAGES=(pkg-config libasound2-dev libasound2-plugins)
if [[ $what == test ]]; then
  APT_PACKAGES+=(espeak-ng sox pulseaudio pulseaudio-utils libportaudio2 stress-ng tmux
    iproute2 nftables  # the bridge tests: network namespaces, packet loss
    chromium)          # the docs test renders the site in a real browser
fi
# The engine's PipeWire host (a cargo feature: libpipewire, and libclang for its
# bindings) and a private PipeWire server to test it against. Without recommends:
# WirePlumber's would bring pipewire-pulse, which replaces the PulseAudio server the
# other tests use, and pipewire-alsa, which takes over the ALSA default device.
PIPEWIRE_PACKAGES=()
if [[ $what == test ]]; then
  PIPEWIRE_PACKAGES=(libpipewire-0.3-dev libclang-dev pipewire pipewire-bin wireplumber dbus-daemon)
fi

if [[ $what == lint ]]; then
  PYTHON=${PYTHON:-python3}
  [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
  stamp=.venv/.v2m-installed-lint
  if [[ ! -f $stamp ]] || [[ requirements-lint.txt -nt $stamp ]]; then
    .venv/bin/pip install -q --disable-pip-version-check -r requirements-lint.txt
    touch "$stamp"
  fi
  exit 0
fi

missing_of() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}
mapfile -t missing < <(missing_of "${APT_PACKAGES[@]}")
mapfile -t missing_pipewire < <(missing_of "${PIPEWIRE_PACKAGES[@]}")
if ((${#missing[@]} + ${#missing_pipewire[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "installing Debian packages: ${missing[*]} ${missing_pipewire[*]}"
    apt-get update -qq
    apt_install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq)
    if ((${#missing[@]})); then
      "${apt_install[@]}" "${missing[@]}" >/dev/null
    fi
    if ((${#missing_pipewire[@]})); then
      "${apt_install[@]}" --no-install-recommends "${missing_pipewire[@]}" >/dev/null
    fi
  else
    echo "warning: missing Debian packages ${missing[*]} ${missing_pipewire[*]}; run as root or: sudo apt-get install ${missing[*]} ${missing_pipewire[*]}" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/pip install -q --disable-pip-version-check)
stamp=.venv/.v2m-installed-$what
inputs=(pyclient requirements-demo.txt Cargo.toml)  # Cargo.toml: the version
[[ $what == test ]] && inputs+=(requirements-dev.txt requirements-lint.txt bench/requirements.txt)
if [[ ! -f $stamp ]] || [[ -n $(find "${inputs[@]}" -newer "$stamp" -type f -print -quit) ]]; then
  if [[ $what == test ]]; then
    "${pip[@]}" -r requirements-demo.txt -r requirements-dev.txt -r requirements-lint.txt \
      -r bench/requirements.txt
  else
    "${pip[@]}" -r requirements-demo.txt
  fi
  rm -rf pyclient/build  # setuptools' in-tree build directory: never reuse a stale one
  .venv/bin/pip uninstall -q -y v2m 2>/dev/null || true  # the distribution's former name
  # Editable: the tests and tools import the tree itself, never a stale copy; and
  # without an engine or model of its own (V2M_DEV_INSTALL): make builds and fetches them.
  V2M_DEV_INSTALL=1 "${pip[@]}" --force-reinstall --no-deps -e ./pyclient
  touch "$stamp"
fi

scripts/fetch-models.sh
