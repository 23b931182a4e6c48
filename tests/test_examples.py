"""The examples in pyclient/examples run as their docstrings say: the transcriber with a
real recognizer (PocketSphinx, offline) on spoken sentences gives one line of text per
sentence; the utterance printer one line per sentence; the demo's output stays in
order and whole when piped."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Dict, Iterator

import pytest

from support.engine import ENGINE, PYTHON, ROOT
from support.speech_material import SENTENCES, make_speech, write_wav

EXAMPLES = ROOT / "pyclient" / "examples"


def _env() -> Dict[str, str]:
    """A user's environment: stdout buffered as Python buffers a pipe."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


@pytest.fixture(scope="module")
def sentences(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The four test sentences, spoken by espeak-ng with pauses between them."""
    yield write_wav(tmp_path_factory.mktemp("examples") / "sentences.wav", make_speech().clean)


def test_transcribe_gives_a_line_of_text_per_sentence(sentences: Path) -> None:
    pytest.importorskip("pocketsphinx", reason="make test installs pocketsphinx")
    jiwer = pytest.importorskip("jiwer", reason="make test installs jiwer")
    done = subprocess.run(
        [PYTHON, str(EXAMPLES / "transcribe.py"), "--asr", "pocketsphinx"]
        + ["--source", f"file:{sentences}", "--speed", "max", "--engine", str(ENGINE)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(SENTENCES), done.stdout
    heard = [re.sub(r"^\[[^]]*\] ", "", line) for line in lines]
    said = [re.sub(r"[^a-z ]", "", s.lower()) for s in SENTENCES]
    # PocketSphinx on a synthetic voice gets about one word in four right (WER 0.7-0.8
    # measured); a recognizer fed the wrong audio, a cut sentence or two joined ones
    # does far worse, or breaks the line count.
    wer = jiwer.wer(said, heard)
    assert wer < 0.9, (wer, heard)
    assert "tomorrow" in heard[1] and "thirteen" in heard[3], heard


def test_print_utterances_prints_one_line_per_sentence(sentences: Path) -> None:
    done = subprocess.run(
        [PYTHON, str(EXAMPLES / "print_utterances.py"), "--source", f"file:{sentences}"]
        + ["--speed", "max", "--engine", str(ENGINE)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == len(SENTENCES), done.stdout


def test_the_demo_keeps_its_lines_whole_and_in_order_in_a_pipe() -> None:
    """`make demo | tee log`: the demo's lines come as they happen, between the
    engine's own (stderr), never all at the end or run into one of them."""
    done = subprocess.run(
        [PYTHON, str(EXAMPLES / "vad_demo.py"), "--engine", str(ENGINE)]
        + ["--source", f"file:{ROOT / 'assets' / 'speech.wav'}", "--name", "example-demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    pattern = re.compile(r"^(v2m-engine: |demo: | +\d+\.\d\d s  speech (starts|ends) )")
    assert all(pattern.match(line) for line in lines), lines
    closed = next(i for i, line in enumerate(lines) if "closed after" in line)
    first_speech = next(i for i, line in enumerate(lines) if "speech starts" in line)
    assert first_speech < closed, "the demo's lines come while the engine runs"
    assert lines[-1].startswith("demo: 511 frames, 0 dropped")
