"""The release artifacts as a user meets them: the manylinux wheel `make wheels` builds
(zig-linked against glibc 2.17, from the unpacked sdist) installed into fresh venvs
outside the checkout, with no Rust and no C compiler on PATH; what auditwheel and twine
say of it; what it holds; and the sdist, which must build on its own and say plainly
what is missing when it cannot."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import tomllib

import v2m
from support.engine import ROOT, TIMEOUT_SCALE

TOOLS_PYTHON = ROOT / ".venv" / "bin" / "python"  # where build-wheels.sh installs its tools
SMOKE = ROOT / "tests" / "support" / "installed_smoke.py"
SPEECH = ROOT / "assets" / "speech.wav"
TOOLCHAIN = ("cargo", "rustc", "cc", "gcc")


def _python_that(check: str, *candidates: Optional[str]) -> Optional[str]:
    """The first candidate interpreter for which ``check`` (a Python assertion) holds."""
    for candidate in candidates:
        if not candidate or not os.path.exists(candidate):
            continue
        try:
            if subprocess.run([candidate, "-c", check], capture_output=True).returncode == 0:
                return candidate
        except OSError:  # e.g. the host's x86_64 build seen from the arm64 root: no loader
            continue
    return None


# The oldest Python the package supports, and a free-threaded build (the one make
# test-free-threaded uses or makes), when this machine has them.
OLDEST = _python_that(
    "import sys; assert sys.version_info[:2] == (3, 9)",
    shutil.which("python3.9"),
    os.path.expanduser("~/.pyenv/versions/3.9.18/bin/python"),
)
FREE_THREADED = None
if not sysconfig.get_config_var("Py_GIL_DISABLED"):  # else it is the current one
    FREE_THREADED = _python_that(
        "import sysconfig; assert sysconfig.get_config_var('Py_GIL_DISABLED')",
        os.environ.get("V2M_FT_PYTHON"),
        shutil.which("python3.13t"),
        str(ROOT / "build" / "python3.13t" / "bin" / "python3.13t"),
    )


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """`scripts/build-wheels.sh x86_64` (what `make wheels` runs, one architecture): the
    sdist, and the wheel built from it. ``V2M_WHEEL`` names a wheel already built
    instead, with its sdist beside it (`make test-arm64` checks the aarch64 one)."""
    given = os.environ.get("V2M_WHEEL")
    if given:
        wheel = Path(given)
        (sdist,) = wheel.parent.glob("v2m_engine-*.tar.gz")
        return {"wheel": wheel, "sdist": sdist}
    dist = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "V2M_DEV_INSTALL"}
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-wheels.sh"), "x86_64"],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**env, "V2M_DIST": str(dist)},
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = dist.glob("v2m_engine-*-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    (sdist,) = dist.glob("v2m_engine-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def _architecture(wheel: Path) -> str:
    """x86_64 or aarch64, from the wheel's platform tag."""
    match = re.search(r"manylinux_2_17_(\w+?)\.", wheel.name)
    assert match, f"{wheel.name} has no manylinux_2_17 tag"
    return match.group(1)


def _no_toolchain(tmp_path: Path) -> Dict[str, str]:
    """The environment of a user with only Python: no cargo, rustc or C compiler on
    PATH, and nothing pointing at this checkout."""
    bare = tmp_path / "path"
    bare.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("V2M_ENGINE", "ORT_DYLIB_PATH", "V2M_VAD_MODEL", "PYTHONPATH", "CC")
    }
    env["PATH"] = str(bare)
    assert not [tool for tool in TOOLCHAIN if shutil.which(tool, path=env["PATH"])]
    return env


def _venv(python: str, where: Path) -> Path:
    subprocess.run([python, "-m", "venv", str(where)], check=True, timeout=300 * TIMEOUT_SCALE)
    return where / "bin" / "python"


@pytest.mark.parametrize(
    "python",
    [
        sys.executable,
        pytest.param(
            OLDEST,
            marks=pytest.mark.skipif(
                OLDEST is None, reason="no Python 3.9 on this machine (the oldest supported)"
            ),
        ),
        pytest.param(
            FREE_THREADED,
            marks=pytest.mark.skipif(
                FREE_THREADED is None,
                reason="no free-threaded CPython here (make test-free-threaded builds one)",
            ),
        ),
    ],
    ids=["current", "oldest", "free-threaded"],
)
def test_the_wheel_installs_and_dictation_works_without_a_toolchain(
    python: str, release: Dict[str, Path], tmp_path: Path
) -> None:
    """A fresh venv outside the checkout, with no Rust or compiler on PATH: the wheel
    installs, the engine beside the interpreter is found on its own and runs Silero
    (the native kernel, no ONNX Runtime) on speech, the tools answer, and the ort
    extra adds ONNX Runtime for --vad-backend ort. Under ``pip install --target`` the
    engine is found in TARGET/bin, as ruff finds its own."""
    env = _no_toolchain(tmp_path)
    venv_python = _venv(python, tmp_path / "venv")
    facts = json.loads(
        subprocess.run(
            [str(venv_python), "-c", "import json, sys; print(json.dumps(sys.version_info[:2]))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    with_ort = tuple(facts) >= (3, 10)  # ONNX Runtime 1.31 needs Python 3.10 or newer
    wheel = release["wheel"]
    target = f"{wheel}[ort,tools]" if with_ort else str(wheel)
    pip = subprocess.run(
        [str(venv_python), "-m", "pip", "install", "-q", "--disable-pip-version-check", target],
        capture_output=True,
        text=True,
        timeout=600 * TIMEOUT_SCALE,
        cwd=tmp_path,
        env=env,
    )
    assert pip.returncode == 0, pip.stderr
    bin_dir = venv_python.parent
    probe = subprocess.run(
        [
            str(venv_python),
            "-c",
            "import json, importlib.metadata as m, pathlib, v2m; "
            "print(json.dumps({'requires': m.requires('v2m-engine'), "
            "'typed': (pathlib.Path(v2m.__file__).parent / 'py.typed').exists(), "
            "'names': sorted(v2m.__all__)}))",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert probe.returncode == 0, probe.stderr
    info = json.loads(probe.stdout)
    runtime = [r for r in info["requires"] if "extra ==" not in r]
    assert runtime == ["numpy>=1.22"] and info["typed"], info
    assert {"Reader", "Frame", "Utterance", "spawn", "rings", "devices"} <= set(info["names"])
    bridge = subprocess.run([str(bin_dir / "v2m-bridge"), "--version"], capture_output=True)
    assert bridge.returncode == 0, "the bridge is installed beside the engine"

    backend = ["--vad-backend", "ort"] if with_ort else []
    report = _smoke(venv_python, tmp_path, env, *backend)
    assert report["engine"] == str(bin_dir / "v2m-engine")
    version = wheel.name.split("-")[1]
    assert report["engine_version"].split()[-1] == report["package_version"] == version
    assert report["frames"] == 511 and report["utterances"] >= 1, report
    assert report["vad_kind"] == v2m.layout.VAD_SILERO
    for tool in ("v2m-monitor", "v2m-record"):
        assert report[tool]["rc"] == 0 and "usage:" in report[tool]["stdout"], report[tool]
    if not with_ort:
        missing = subprocess.run(
            [str(venv_python), "-c", "import v2m; v2m.spawn(source='silence', vad_backend='ort')"],
            capture_output=True,
            text=True,
            timeout=60 * TIMEOUT_SCALE,
            cwd=tmp_path,
            env=env,
        )
        assert 'pip install "v2m-engine[ort]"' in missing.stderr, missing.stderr

    # pip install --target into a directory, imported by an interpreter whose own
    # scripts directory has no engine (a bare venv): found in TARGET/bin.
    beside, bare = tmp_path / "beside", tmp_path / "bare"
    subprocess.run(
        [str(venv_python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        + ["--target", str(beside), str(wheel)],
        check=True,
        timeout=300 * TIMEOUT_SCALE,
        env=env,
    )
    subprocess.run([python, "-m", "venv", "--without-pip", str(bare)], check=True)
    found = subprocess.run(
        [str(bare / "bin" / "python"), "-c", "import v2m; print(v2m.find_engine())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(beside)},
    )
    assert found.stdout.strip() == str(beside / "bin" / "v2m-engine"), found.stderr


def _smoke(python: Path, cwd: Path, env: Dict[str, str], *args: str) -> Dict[str, object]:
    done = subprocess.run(
        [str(python), str(SMOKE), str(SPEECH), "--timeout", str(10 * TIMEOUT_SCALE), *args],
        capture_output=True,
        text=True,
        timeout=180 * TIMEOUT_SCALE,
        cwd=cwd,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    report: Dict[str, object] = json.loads(done.stdout)
    return report


def test_auditwheel_accepts_the_wheel_for_its_tag(release: Dict[str, Path]) -> None:
    shown = subprocess.run(
        [str(TOOLS_PYTHON), "-m", "auditwheel", "show", str(release["wheel"])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    verdict = " ".join(shown.stdout.split())
    tag = f"manylinux_2_17_{_architecture(release['wheel'])}"
    assert f'is consistent with the following platform tag: "{tag}"' in verdict, verdict
    # Only glibc's own libraries: libasound is loaded at run time, never linked.
    assert "libasound" not in shown.stdout, shown.stdout


def test_twine_accepts_the_release_files(release: Dict[str, Path]) -> None:
    checked = subprocess.run(
        [str(TOOLS_PYTHON), "-m", "twine", "check", "--strict"]
        + [str(release["wheel"]), str(release["sdist"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_wheel_holds_the_package_the_programs_and_the_model_only(
    release: Dict[str, Path],
) -> None:
    with zipfile.ZipFile(release["wheel"]) as wheel:
        names = wheel.namelist()
        programs = {
            Path(n).name: wheel.read(n) for n in names if re.match(r"[^/]+\.data/scripts/", n)
        }
    package = sorted(
        str(p.relative_to(ROOT / "pyclient"))
        for p in (ROOT / "pyclient" / "v2m").rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert set(package) <= set(names), "every module of the package"
    assert {"v2m/py.typed", "v2m/models/silero_vad.onnx", "v2m/models/LICENSE"} <= set(names)
    assert set(programs) == {"v2m-engine", "v2m-bridge"}
    strays = [
        n
        for n in names
        if not re.match(r"(v2m/|v2m_engine\.py$|v2m_engine-[^/]+\.(dist-info|data)/)", n)
        or "__pycache__" in n
        or n.endswith(".pyc")
        or "test" in Path(n).name
    ]
    assert strays == [], "nothing but the package, the programs and the metadata"
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    for name, program in programs.items():
        for leak in (str(ROOT), home, "/pip-req-build-", "/target/wheel-"):
            assert leak.encode() not in program, f"{name} names the build machine's {leak}"
        sections = _elf_section_names(program)
        assert not {".symtab", ".debug_info", ".debug_line"} & set(sections), f"{name} is stripped"


def _elf_section_names(image: bytes) -> List[str]:
    """The section names of a 64-bit little-endian ELF image."""
    assert image[:6] == b"\x7fELF\x02\x01", "a 64-bit little-endian ELF file"
    (shoff,) = struct.unpack_from("<Q", image, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", image, 0x3A)

    def section(k: int) -> tuple[int, int, int]:
        name, _, _, _, offset, size = struct.unpack_from("<IIQQQQ", image, shoff + k * shentsize)
        return name, offset, size

    _, strings_at, _ = section(shstrndx)
    names = []
    for k in range(shnum):
        name = section(k)[0]
        names.append(image[strings_at + name : image.index(b"\0", strings_at + name)].decode())
    return names


def test_the_sdist_carries_the_workspace(release: Dict[str, Path]) -> None:
    """Everything cargo needs (the wheel test's wheel was built from this very sdist,
    unpacked), and no build output."""
    with tarfile.open(release["sdist"]) as sdist:
        top, *rest = sdist.getnames()
    files = {name.split("/", 1)[1] for name in rest if "/" in name}
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    needed = {"Cargo.toml", "Cargo.lock", ".cargo/config.toml", "setup.py", "pyproject.toml"}
    needed |= {f"{member}/Cargo.toml" for member in members}
    needed |= {"models/silero_vad/silero_vad.onnx", "models/silero_vad/LICENSE"}
    assert needed <= files, sorted(needed - files)
    assert not [f for f in files if f.startswith("target/") or "__pycache__" in f]
    assert top == release["sdist"].name.removesuffix(".tar.gz")


def test_the_sdist_says_what_is_missing_without_cargo(
    release: Dict[str, Path], tmp_path: Path
) -> None:
    """Where no wheel fits, pip builds the sdist; on a machine without Rust it must say
    what to install, not fail somewhere inside setuptools-rust."""
    env = _no_toolchain(tmp_path)
    venv_python = _venv(sys.executable, tmp_path / "venv")
    pip = subprocess.run(
        [str(venv_python), "-m", "pip", "install", "--disable-pip-version-check"]
        + ["--no-deps", str(release["sdist"])],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=env,
    )
    assert pip.returncode != 0
    said = " ".join((pip.stdout + pip.stderr).split())
    assert "building v2m-engine from source needs cargo" in said, said
    assert "rustup" in said and "pip install v2m-engine" in said
    assert not (venv_python.parent / "v2m-engine").exists()
