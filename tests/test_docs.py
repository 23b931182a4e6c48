"""The docs hold what is true, build, render and run: every results block is the file
the bench wrote, the command-line reference is what the programs print, the repository
map names every source file, the site builds with `mkdocs build --strict` and renders
in a real browser, and every Python block of the README and of the pages runs."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, List, Tuple

import numpy as np
import pytest

from support.engine import PYTHON, ROOT
from support.pulse_server import SINK, PulseServer
from support.speech_material import make_speech

PAGES = [ROOT / "README.md", ROOT / "pyclient" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium")


def test_every_results_block_in_the_docs_is_the_file_it_names() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render-docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr


def test_the_command_line_reference_is_what_the_programs_print() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli-reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr


def test_the_package_readme_names_every_reader_option() -> None:
    """pyclient/README.md (the package's page on PyPI) once left out three of them."""
    import inspect

    import v2m

    page = (ROOT / "pyclient" / "README.md").read_text()
    options = [p for p in inspect.signature(v2m.Reader.__init__).parameters if p != "self"]
    assert [o for o in options if f"{o}=" not in page and o != "name"] == []


def test_the_repository_map_names_every_source_file() -> None:
    """The map in docs/contributing.md used to miss seven files; now a new file that it
    does not name fails here."""
    page = (ROOT / "docs" / "contributing.md").read_text()
    sources = [
        *ROOT.glob("layout/src/**/*.rs"),
        *ROOT.glob("ring/src/**/*.rs"),
        *ROOT.glob("bridge/src/**/*.rs"),
        *ROOT.glob("engine/src/**/*.rs"),
        *ROOT.glob("pyclient/v2m/**/*.py"),
        *ROOT.glob("bench/*.py"),
        *ROOT.glob("scripts/*"),
    ]
    missing = sorted(
        str(p.relative_to(ROOT)) for p in sources if f"`{p.name}`" not in page and p.is_file()
    )
    assert missing == [], f"docs/contributing.md does not name {missing}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as `make docs` builds it: strict, so a broken link, anchor or
    reference fails the build."""
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [PYTHON, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr[-5000:]
    return out


def test_the_site_has_every_page_the_api_and_the_cli_reference(site: Path) -> None:
    for page in ["index", "getting-started", "python", "engine", "voice-hardware", "api", "cli"]:
        assert (site / f"{page}.html").is_file(), page
    api = (site / "api.html").read_text()
    for name in ("v2m.Reader", "v2m.spawn", "v2m_engine.AudioCapture", "utterances"):
        assert name in api, f"the API reference lacks {name}"
    assert "v2m-engine run --help" in (site / "cli.html").read_text()
    assert (site / "layout" / "LAYOUT.html").is_file(), "the normative spec is in the site"
    assert (site / "bench" / "results" / "long_tail_4reader.png").is_file()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _Handler(http.server.SimpleHTTPRequestHandler):
    missing: List[str] = []

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        _Handler.missing.append(f"{code} {self.path}")
        super().send_error(code, message, explain)


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[Tuple[str, List[str]]]:
    """The site over HTTP on loopback; the requests that failed."""
    _Handler.missing = []
    server = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Handler.missing
    server.shutdown()


def _chromium(url: str, *args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
        + ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
        + [f"--user-data-dir={profile}", "--window-size=1280,900", *args, url],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is needed (make test installs it)")
@pytest.mark.parametrize("page", ["index", "api"])
def test_a_browser_renders_the_page(
    page: str, served: Tuple[str, List[str]], tmp_path: Path
) -> None:
    """Headless Chromium loads the page from a local server: the navigation is there,
    no asset is missing, and the screenshot is a drawn page, not a blank one."""
    base, missing = served
    url = f"{base}/{page}.html"
    dom = _chromium(url, "--dump-dom", profile=tmp_path / "dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'class="md-nav' in dom.stdout and "Python guide" in dom.stdout, "navigation"
    assert 'class="md-content' in dom.stdout
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{page}.png"
    taken = _chromium(url, f"--screenshot={shot}", profile=tmp_path / "shot")
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (900, 1280) and pixels.std() > 20, "a page was drawn"
    assert missing == [], f"requests that failed: {missing}"


def python_blocks() -> List[Tuple[str, str]]:
    """Every ```python block of the README and the pages: (where, code)."""
    blocks = []
    for page in PAGES:
        text = page.read_text()
        for match in re.finditer(r"^( *)```python\n(.*?)^\1```", text, re.S | re.M):
            indent = len(match.group(1))
            code = "\n".join(line[indent:] for line in match.group(2).splitlines())
            line = text[: match.start()].count("\n") + 1
            blocks.append((f"{page.relative_to(ROOT)}:{line}", code))
    return blocks


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A default microphone that speaks: a private PulseAudio server whose default
    source plays the test sentences, with pauses, again and again (ALSA's default device
    is that server while it runs, as on a desktop)."""
    if not PulseServer.available():
        pytest.skip("pulseaudio is needed (make test installs it)")
    tmp = tmp_path_factory.mktemp("microphone")
    speech = make_speech().clean
    raw = tmp / "speech.raw"
    np.round(np.clip(speech, -1, 1) * 32767).astype("<i2").tofile(raw)
    silence = tmp / "silence.raw"
    silence.write_bytes(bytes(2 * 16000))
    server = PulseServer(tmp / "runtime", silence)  # its own feed: a second, then none
    server.start()
    server.play(SINK, raw, loop=True)
    yield server.env
    server.stop()


@pytest.mark.parametrize("where, code", python_blocks(), ids=[w for w, _ in python_blocks()])
def test_every_python_example_in_the_docs_runs(
    where: str, code: str, microphone: dict[str, str], tmp_path: Path
) -> None:
    """Run from the checkout as a user would run it; one that loops over a live
    microphone for good is stopped after it printed what it hears (SIGTERM, which
    ``v2m.spawn`` answers by stopping its engine). It must raise nothing, print, and
    leave no ring behind."""
    script = tmp_path / "example.py"
    script.write_text(code + "\n")
    before = set(os.listdir("/dev/shm"))
    env = {k: v for k, v in microphone.items() if k != "V2M_ENGINE"}
    env["PYTHONUNBUFFERED"] = "1"  # each line as printed, to know when it has spoken
    process = subprocess.Popen(
        [PYTHON, str(script)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    lines: List[str] = []
    first_line = threading.Event()

    def collect() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            first_line.set()

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        if first_line.wait(60):
            process.wait(timeout=4)  # a finite example ends; a live one is stopped
    except subprocess.TimeoutExpired:
        pass
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    err = process.communicate(timeout=20)[1]
    reader.join(10)
    assert "Traceback" not in err, f"{where}:\n{err}"
    assert process.returncode in (0, -signal.SIGTERM), f"{where}: exit {process.returncode}\n{err}"
    assert lines, f"{where} printed nothing:\n{err}"
    # The engine it spawned stops with it (SIGTERM from the kernel) and removes its ring.
    # A ring another process spawned meanwhile (tests/test_wheels.py runs beside this
    # suite) is not the example's.
    ours = re.compile(rf"v2m-py{process.pid}-\d+")
    spawned_elsewhere = re.compile(r"v2m-py\d+-\d+")

    def leftover() -> set[str]:
        new = set(os.listdir("/dev/shm")) - before
        return {
            n for n in new
            if n.startswith("v2m-") and (ours.fullmatch(n) or not spawned_elsewhere.fullmatch(n))
        }  # fmt: skip

    deadline = time.monotonic() + 10
    left = leftover()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = leftover()
    assert not left, f"{where} left {left}"
