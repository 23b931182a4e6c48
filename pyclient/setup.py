"""Builds the v2m wheel: the Python package, the ``v2m-engine`` and ``v2m-bridge``
binaries (compiled from the Rust workspace by setuptools-rust and installed into the
environment's ``bin/``), and the Silero VAD model with its license as package data.
The version is the workspace's (its ``Cargo.toml``).

The workspace is ``..`` in the repository and ``.`` in the sdist, which carries it
beside the package (``SourceWithWorkspace``) so that it builds anywhere pip unpacks it.

The model (MIT, 2 MB) comes from the ``silero-vad`` wheel on PyPI, never from its torch
dependency: taken from the workspace's ``models/`` when ``make`` already fetched it (and
always in the sdist), otherwise downloaded with pip at build time.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools_rust import RustBin, Strip

HERE = Path(__file__).resolve().parent
SOURCE = HERE if (HERE / "Cargo.toml").is_file() else HERE.parent
WORKSPACE = SOURCE / "Cargo.toml"
FETCHED = SOURCE / "models" / "silero_vad"
# What the sdist carries of the workspace: what cargo needs to build both binaries
# (every workspace member, the lock file, the link overrides) and the model.
WORKSPACE_PARTS = (
    "Cargo.toml",
    "Cargo.lock",
    ".cargo/config.toml",
    "layout",
    "ring",
    "engine",
    "bridge",
    "bench/producer",
)
SILERO_WHEEL = "silero-vad==6.2.3"
MODEL_FILES = ("silero_vad.onnx", "LICENSE")


def workspace_version() -> str:
    """The project's one version: ``[workspace.package] version`` in ../Cargo.toml."""
    section = WORKSPACE.read_text().split("[workspace.package]", 1)[1].split("\n[", 1)[0]
    found = re.search(r'^version\s*=\s*"([^"]+)"', section, re.MULTILINE)
    if found is None:
        raise SystemExit(f"no version in the [workspace.package] of {WORKSPACE}")
    return found.group(1)


def fetch_model(dest: Path) -> None:
    """Puts silero_vad.onnx and its LICENSE into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    if all((FETCHED / name).is_file() for name in MODEL_FILES):
        for name in MODEL_FILES:
            shutil.copy2(FETCHED / name, dest / name)
        return
    with tempfile.TemporaryDirectory() as tmp:
        pip = [sys.executable, "-m", "pip"] if _has_pip() else [shutil.which("pip3") or "pip"]
        subprocess.run([*pip, "download", "-q", "--no-deps", SILERO_WHEEL, "-d", tmp], check=True)
        (wheel,) = glob.glob(f"{tmp}/silero_vad-*.whl")
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                path = Path(name)
                if name.startswith("silero_vad/data/") and path.name == "silero_vad.onnx":
                    (dest / path.name).write_bytes(z.read(name))
                elif path.name == "LICENSE" and ".dist-info/" in name:
                    (dest / "LICENSE").write_bytes(z.read(name))
    missing = [name for name in MODEL_FILES if not (dest / name).is_file()]
    if missing:
        raise SystemExit(f"the {SILERO_WHEEL} wheel did not contain {', '.join(missing)}")


def _has_pip() -> bool:
    return (
        subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode
        == 0
    )


class BuildWithModel(build_py):
    """build_py that also places the Silero model in the built package."""

    def run(self) -> None:
        super().run()
        if not DEV_INSTALL:
            fetch_model(Path(self.build_lib) / "v2m" / "models")


class EngineWheel(bdist_wheel):
    """The engine is a program, not an extension module: one wheel serves every Python 3.
    ``V2M_WHEEL_PLATFORM`` names the platform when it is not this machine's
    (scripts/build-wheels.sh: manylinux, and cross-built for aarch64)."""

    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", os.environ.get("V2M_WHEEL_PLATFORM", platform)

    def run(self) -> None:
        if not DEV_INSTALL:
            _require_a_toolchain()
        super().run()


def _require_a_toolchain() -> None:
    """Building from source compiles Rust: say so plainly, before setuptools-rust does."""
    compiler = os.environ.get("CC", "cc").split()[0]
    missing = [tool for tool in ("cargo", compiler) if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"building v2m-engine from source needs {' and '.join(missing)}, which "
            "this machine lacks: install Rust with rustup (https://rustup.rs) and a C "
            "compiler (Debian, Ubuntu: sudo apt install build-essential), then run pip "
            "again; the first build takes a few minutes. Prebuilt wheels need neither "
            "(Linux x86_64 and aarch64, glibc 2.17 or newer): pip install v2m-engine"
        )


class SourceWithWorkspace(sdist):
    """An sdist that builds on its own: the Rust workspace and the model go beside the
    package (the repository keeps them in the parent directory, which an sdist cannot
    reach)."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        if SOURCE == HERE:  # already an sdist's tree
            return
        for part in WORKSPACE_PARTS:
            source, dest = SOURCE / part, Path(base_dir) / part
            dest.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, dest, ignore=shutil.ignore_patterns("target", "*.pyc"))
            else:
                shutil.copy2(source, dest)
        fetch_model(Path(base_dir) / "models" / "silero_vad")


# The project's own development install (scripts/install-deps.sh) sets V2M_DEV_INSTALL:
# there the engine is target/release/v2m-engine and the model models/silero_vad/, both
# made by make, never copies that could go stale in the venv.
DEV_INSTALL = bool(os.environ.get("V2M_DEV_INSTALL"))
# Optional engine features, e.g. V2M_ENGINE_FEATURES=pipewire for the native PipeWire
# host (needs libpipewire-0.3-dev and libclang-dev to build).
FEATURES = [f for f in os.environ.get("V2M_ENGINE_FEATURES", "").replace(",", " ").split() if f]
BINARIES = (
    []
    if DEV_INSTALL
    else [
        RustBin(
            "v2m-engine",
            path=str(SOURCE / "engine" / "Cargo.toml"),
            args=["--locked"],
            features=FEATURES,
            strip=Strip.Debug,
        ),
        # The bridge carries rings to other hosts (Zenoh); Python never starts it, users do.
        RustBin(
            "v2m-bridge",
            path=str(SOURCE / "bridge" / "Cargo.toml"),
            args=["--locked"],
            strip=Strip.Debug,
        ),
    ]
)

setup(
    version=workspace_version(),
    rust_extensions=BINARIES,
    cmdclass={"build_py": BuildWithModel, "bdist_wheel": EngineWheel, "sdist": SourceWithWorkspace},
)
