"""Bad input gets a clear error, a non-zero exit, and leaves nothing behind."""

from __future__ import annotations

import signal
import struct
from pathlib import Path
from typing import Callable, Iterator

import pytest

import v2m
from conftest import Engines, noise_signal, ring_file, run_engine, wait_for, write_wav


def test_a_missing_ring_is_not_found() -> None:
    with pytest.raises(v2m.NotFound, match="no ring named 'nobody-here'.*v2m-engine run"):
        v2m.Reader("nobody-here")


def test_a_bad_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="ring name"):
        v2m.Reader("../etc/passwd")


@pytest.fixture(scope="module")
def real_segment(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real, closed ring (16 slots of 512 samples)."""
    name = "pytest-bad-template"
    pool = Engines()
    proc = pool.start(
        "--name",
        name,
        "--source",
        "silence",
        "--slots",
        "16",
        "--duration",
        "0.1",
        "--speed",
        "max",
        "--linger",
        "10",
    )
    try:
        wait_for(lambda: ring_file(name).exists(), what="template ring")
        with v2m.Reader(name, start="oldest", wait=5) as reader:
            list(reader)
        return ring_file(name).read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)


@pytest.fixture
def planted(ring_name: str) -> Iterator[Callable[[bytes], None]]:
    """Plants arbitrary bytes as ring ``ring_name`` (no engine owns it)."""
    path = ring_file(ring_name)

    def plant(data: bytes) -> None:
        path.write_bytes(data)

    yield plant
    path.unlink(missing_ok=True)


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


CORRUPTIONS = {
    "wrong magic": (lambda d: b"NOTARING" + d[8:], "bad magic"),
    "newer major version": (lambda d: _patch(d, 8, "<H", 2), r"version 2\.\d+ is not supported"),
    "empty file": (lambda d: b"", "truncated"),
    "header cut short": (lambda d: d[:100], "truncated"),
    "segment cut short": (lambda d: d[: len(d) - 4096], "truncated"),
    "total size lies": (lambda d: _patch(d, 48, "<Q", len(d) + 4096), "truncated"),
    "slots not a power of two": (lambda d: _patch(d, 80, "<I", 12), "power of two"),
    "slots past the end": (lambda d: _patch(d, 80, "<I", 1 << 20), "inconsistent|truncated"),
    "zero frame size": (lambda d: _patch(d, 72, "<I", 0), "frame size 0"),
    "samples overlap metadata": (lambda d: _patch(d, 96, "<Q", 4096), "overlaps"),
    "huge samples offset": (lambda d: _patch(d, 96, "<Q", (1 << 64) - 64), "overflows"),
    "unknown sample format": (lambda d: _patch(d, 76, "<I", 7), "sample format"),
    "unknown state": (lambda d: _patch(d, 28, "<I", 9), "state"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_corrupt_ring_is_a_layout_error(
    case: str, real_segment: bytes, planted: Callable[[bytes], None], ring_name: str
) -> None:
    corrupt, message = CORRUPTIONS[case]
    planted(corrupt(real_segment))
    with pytest.raises(v2m.LayoutError, match=message):
        v2m.Reader(ring_name)
    status = run_engine("status", "--name", ring_name)
    assert status.returncode == 1 and "ring" in status.stderr


def test_a_newer_minor_version_is_accepted(
    real_segment: bytes, planted: Callable[[bytes], None], ring_name: str
) -> None:
    planted(_patch(real_segment, 10, "<H", 7))
    with v2m.Reader(ring_name, start="oldest") as reader:
        assert reader.info.version == (1, 7)
        assert len(list(reader)) == 4  # closed ring: drains and ends


def _bad_wav(tmp_path: Path) -> dict[str, Path]:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all" * 10)
    good = tmp_path / "good.wav"
    write_wav(good, noise_signal(1.0), 16000, bits=16, float_=False)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:8000])
    empty = tmp_path / "empty.wav"
    write_wav(empty, noise_signal(0.0), 16000)
    return {
        "garbage": garbage,
        "truncated": truncated,
        "empty": empty,
        "missing": tmp_path / "missing.wav",
    }


BAD_CLI = {
    "slots not a power of two": (["--slots", "1000"], "power of two"),
    "slots zero": (["--slots", "0"], "power of two"),
    "rate zero": (["--rate", "0"], "sample rate"),
    "frame zero": (["--frame", "0"], "--frame"),
    "unknown source": (["--source", "microphone"], "unknown source"),
    "tone above nyquist": (["--source", "tone:9000"], "Nyquist"),
    "bad speed": (["--speed", "fast"], "speed"),
    "bad threshold": (["--vad-threshold", "1.5"], "probability"),
    "bad ring name": (["--name", "a/b"], "ring name"),
    "silero model missing": (
        ["--vad", "silero", "--vad-model", "/no/such/model.onnx"],
        "make models",
    ),
    "ort library missing": (
        ["--vad", "silero", "--ort-lib", "/no/such/libonnxruntime.so"],
        "onnxruntime==1.31.1",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CLI))
def test_bad_cli_values_exit_2_and_leave_nothing(case: str, ring_name: str) -> None:
    args, message = BAD_CLI[case]
    if "--name" not in args:
        args = (
            ["--name", ring_name, "--source", "tone:440", *args]
            if "--source" not in args
            else ["--name", ring_name, *args]
        )
    result = run_engine("run", *args)
    assert result.returncode == 2, result.stderr
    assert message.lower() in result.stderr.lower(), result.stderr
    assert not ring_file(ring_name).exists()


@pytest.mark.parametrize("case", ["garbage", "truncated", "empty", "missing"])
def test_bad_wav_files_exit_2_and_leave_nothing(case: str, tmp_path: Path, ring_name: str) -> None:
    wav = _bad_wav(tmp_path)[case]
    result = run_engine("run", "--name", ring_name, "--source", f"file:{wav}")
    assert result.returncode == 2, result.stderr
    assert str(wav) in result.stderr
    assert not ring_file(ring_name).exists()
    assert not list(Path("/dev/shm").glob(f".v2m-{ring_name}.*"))
