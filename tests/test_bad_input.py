"""Bad input gets a clear error, a non-zero exit, and leaves nothing behind."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

import v2m
from support.engine import engine_argv, run_engine
from support.rings import ring_file
from support.wav_files import noise_signal, write_wav


def test_a_missing_ring_is_not_found() -> None:
    with pytest.raises(v2m.NotFound, match="no ring named 'nobody-here'.*v2m-engine run"):
        v2m.Reader("nobody-here")


def test_a_bad_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="ring name"):
        v2m.Reader("../etc/passwd")


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
    assert status.returncode in (1, 2) and "ring" in status.stderr


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
    fast = tmp_path / "50mhz.wav"
    write_wav(fast, noise_signal(0.01), 50_000_000)
    slow = tmp_path / "10hz.wav"
    write_wav(slow, noise_signal(0.01), 10)
    wide = tmp_path / "1000ch.wav"
    write_wav(wide, np.zeros((16, 1000), np.float32), 16000)
    return {
        "garbage": garbage,
        "truncated": truncated,
        "empty": empty,
        "missing": tmp_path / "missing.wav",
        "50 MHz": fast,
        "10 Hz": slow,
        "1000 channels": wide,
        "a directory": tmp_path,
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
    "linger of 1e20 s": (["--linger", "1e20"], "seconds from 0 to 3600"),
    "speed of 1e-12": (["--speed", "1e-12"], "factor from 0.01 to 1000"),
    "speed of 1e9": (["--speed", "1e9"], "factor from 0.01 to 1000"),
    "duration NaN": (["--duration", "nan"], "seconds"),
    "negative duration": (["--duration=-1"], "seconds"),
    "min silence of 1e9 ms": (["--vad-min-silence-ms", "1000000000"], "vad-min-silence-ms"),
    "device buffer too long": (["--device-buffer-ms", "5000"], "device-buffer-ms"),
    "neg threshold above threshold": (
        ["--vad-threshold", "0.3", "--vad-neg-threshold", "0.6"],
        "at or below",
    ),
    "silero model missing": (
        ["--vad", "silero", "--vad-model", "/no/such/model.onnx"],
        "make models",
    ),
    "ort library missing": (
        ["--vad", "silero", "--vad-backend", "ort", "--ort-lib", "/no/such/libonnxruntime.so"],
        "onnxruntime==1.31.1",
    ),
    "unknown vad backend": (["--vad-backend", "tensorflow"], "use native or ort"),
    "a model the native kernel does not know": (
        ["--vad", "silero", "--vad-model", str(Path(__file__))],
        "--vad-backend ort",
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


BAD_WAV_MESSAGES = {
    "garbage": "not a readable WAV",
    "truncated": "truncated",
    "empty": "no samples",
    "missing": "no such file",
    "50 MHz": "sample rate 50000000 Hz is outside 1000..=768000",
    "10 Hz": "sample rate 10 Hz is outside",
    "1000 channels": "1000 channels",
    "a directory": "not a regular file",
}


@pytest.mark.parametrize("case", sorted(BAD_WAV_MESSAGES))
def test_bad_wav_files_exit_2_and_leave_nothing(case: str, tmp_path: Path, ring_name: str) -> None:
    wav = _bad_wav(tmp_path)[case]
    result = run_engine("run", *engine_argv(ring_name, f"file:{wav}"))
    assert result.returncode == 2, result.stderr
    assert str(wav) in result.stderr and BAD_WAV_MESSAGES[case] in result.stderr, result.stderr
    assert not ring_file(ring_name).exists()
    assert not list(Path("/dev/shm").glob(f".v2m-{ring_name}.*"))


def _mutated_wavs(tmp_path: Path, count: int, seed: int = 11) -> Iterator[Path]:
    """WAV files with header fields and bytes mutated at random (seeded)."""
    rng = np.random.default_rng(seed)
    base = tmp_path / "base.wav"
    write_wav(base, noise_signal(0.3), 16000, bits=16, float_=False)
    good = bytearray(base.read_bytes())
    fields = {"channels": (22, "<H"), "rate": (24, "<I"), "byte rate": (28, "<I")}
    fields.update({"block": (32, "<H"), "bits": (34, "<H"), "data size": (40, "<I")})
    fields.update({"format": (20, "<H"), "fmt size": (16, "<I"), "riff size": (4, "<I")})
    values = [0, 1, 2, 3, 7, 8, 24, 32, 33, 64, 65, 1000, 999_999_999, 2**16 - 1, 2**32 - 1]
    for i in range(count):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            if rng.random() < 0.4:
                # A self-consistent format the file's data may or may not fit.
                rate = int(rng.choice([1000, 7999, 8000, 11025, 44100, 192000, 768000, 768001]))
                channels, bits = int(rng.choice([1, 2, 3, 64, 65])), int(
                    rng.choice([8, 16, 24, 32])
                )
                block = channels * bits // 8
                struct.pack_into("<HIIHH", data, 22, channels, rate, rate * block, block, bits)
            elif rng.random() < 0.7:
                offset, code = fields[str(rng.choice(list(fields)))]
                size = struct.calcsize(code)
                struct.pack_into(code, data, offset, int(rng.choice(values)) % (1 << (8 * size)))
            else:
                data[int(rng.integers(0, 44))] = int(rng.integers(0, 256))
        if rng.random() < 0.2:
            data = data[: int(rng.integers(0, len(data)))]
        path = tmp_path / f"fuzz{i}.wav"
        path.write_bytes(bytes(data))
        yield path


def test_mutated_wav_files_never_crash_the_engine(tmp_path: Path, ring_name: str) -> None:
    outcomes: dict[int, int] = {}
    for wav in _mutated_wavs(tmp_path, 80):
        result = run_engine(
            "run",
            *engine_argv(ring_name, f"file:{wav}", speed="max", vad="off", linger=0, duration=2),
        )
        outcomes[result.returncode] = outcomes.get(result.returncode, 0) + 1
        assert result.returncode in (0, 2), f"{wav}: exit {result.returncode}: {result.stderr}"
        if result.returncode == 2:
            assert f"file:{wav}" in result.stderr, result.stderr
        assert not ring_file(ring_name).exists()
    # Most mutations are refused (clearly); some still decode, through the resampler.
    assert outcomes.get(2, 0) > 10 and outcomes.get(0, 0) > 3, outcomes
