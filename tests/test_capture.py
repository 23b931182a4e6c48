"""The real cpal/ALSA capture path, through ALSA `file` PCMs that replay raw files
(`support.alsa_files`): each test captures exactly the file's length with --duration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Dict, Iterator, NamedTuple, Optional

import numpy as np
import pytest

import v2m
from support.alsa_files import FilePcm, alsa_env
from support.engine import ENGINE, ROOT
from support.pulse_server import PulseServer
from support.rings import ring_file
from support.snr import lowpass, snr_db

SPEECH = ROOT / "assets" / "speech.wav"
# The ramp device's samples count 0..RAMP_PERIOD-1 over and over. A prime:
# a gap the ramp cannot show would be a multiple of it *and* of the device's
# buffer size, about 5 million samples.
RAMP_PERIOD = 65521
RAMP_SAMPLES = 20_000_000
pytestmark = pytest.mark.skipif(
    shutil.which("sox") is None, reason="sox is needed (make test installs it)"
)


class AlsaFixture:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.raw: Dict[str, Path] = {}
        pcms = []
        for name, rate, channels in (("v2mtest16", 16000, 1), ("v2mtest48", 48000, 2)):
            raw = root / f"{name}.raw"
            subprocess.run(
                [
                    "sox",
                    str(SPEECH),
                    "-r",
                    str(rate),
                    "-c",
                    str(channels),
                    "-b",
                    "16",
                    "-e",
                    "signed-integer",
                    "-t",
                    "raw",
                    str(raw),
                ],
                check=True,
            )
            self.raw[name] = raw
            pcms.append(
                FilePcm(name, raw, rate, channels, f"v2m test capture {rate} Hz {channels} ch")
            )
        # A ramp: each sample's value says where in the file it came from.
        ramp = root / "v2mramp16.raw"
        (np.arange(RAMP_SAMPLES) % RAMP_PERIOD).astype("<u2").tofile(ramp)
        self.raw["v2mramp16"] = ramp
        pcms.append(FilePcm("v2mramp16", ramp, 16000, 1, "v2m test ramp 16000 Hz 1 ch"))
        self.env = alsa_env(root / "asound.conf", pcms)

    def engine(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ENGINE), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, ring_name: str, *args: str) -> subprocess.Popen[str]:
        """`v2m-engine run` on the test devices. The VAD is off: the devices flood
        faster than real time, and the VAD is not what these tests are about."""
        return subprocess.Popen(
            [str(ENGINE), "run", "--name", ring_name, "--linger", "5", "--vad", "off", *args],
            env=self.env,
            stderr=subprocess.PIPE,
            text=True,
        )

    def samples(self, name: str, channels: int) -> np.ndarray:
        data = np.fromfile(self.raw[name], dtype="<i2").astype(np.float32) / 32768
        return data.reshape(-1, channels)


@pytest.fixture(scope="module")
def alsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlsaFixture]:
    yield AlsaFixture(tmp_path_factory.mktemp("alsa"))


class Capture(NamedTuple):
    audio: np.ndarray
    frames: list[v2m.Frame]
    stats: Dict[str, int]
    proc: subprocess.Popen[str]


def _capture(alsa: AlsaFixture, ring_name: str, *args: str, buffer_ms: int = 60000) -> Capture:
    proc = alsa.start(ring_name, "--capture-buffer-ms", str(buffer_ms), *args)
    try:
        with v2m.Reader(ring_name, start="oldest", wait=10, copy=True) as reader:
            frames = list(reader)
            assert reader.dropped == 0
            stats = reader.stats()
    finally:
        proc.terminate()
        proc.wait(10)
    return Capture(np.concatenate([f.samples for f in frames]), frames, stats, proc)


def test_devices_lists_the_test_devices(alsa: AlsaFixture) -> None:
    text = alsa.engine("devices")
    assert text.returncode == 0, text.stderr
    assert "v2m test capture 16000 Hz 1 ch [v2mtest16]" in text.stdout
    devices = {d["id"]: d for d in json.loads(alsa.engine("devices", "--json").stdout)}
    assert "v2mtest48" in devices
    entry = devices["v2mtest16"]
    assert entry["name"] == "v2m test capture 16000 Hz 1 ch" and entry["default"] is False
    assert "i16" in entry["formats"] and entry["channels"][0] == 1


def test_capture_at_16k_mono_is_bit_exact(alsa: AlsaFixture, ring_name: str) -> None:
    expected = alsa.samples("v2mtest16", 1)[:, 0]
    audio, frames, _, proc = _capture(
        alsa, ring_name, "--source", "device:v2mtest16", "--duration", str(len(expected) / 16000)
    )
    assert proc.returncode == 0
    assert len(frames) == -(-len(expected) // 512)
    assert np.array_equal(audio[: len(expected)], expected), "bit-exact through cpal"
    assert frames[-1].padded and not any(f.discontinuity for f in frames)
    assert all(0 < f.arrival_ns <= f.publish_ns for f in frames)
    assert "capturing from 'v2m test capture 16000 Hz 1 ch' (v2mtest16)" in (
        proc.stderr.read() if proc.stderr else ""
    )


def test_lost_samples_are_flagged_on_the_frame_that_holds_the_gap(
    alsa: AlsaFixture, ring_name: str
) -> None:
    """The device floods faster than real time into a 64 ms queue, so the
    callback keeps finding it full and drops samples. The gap is after what was
    queued, not where the DSP thread was reading when it learnt of the loss."""
    seconds = 5
    for _ in range(3):  # until some samples are lost, but not the whole ramp
        audio, frames, stats, proc = _capture(
            alsa,
            ring_name,
            "--source",
            "device:v2mramp16",
            "--duration",
            str(seconds),
            buffer_ms=64,
        )
        assert proc.returncode == 0
        if 0 < stats["samples_lost"] < RAMP_SAMPLES - seconds * 16000:
            break
    else:
        pytest.fail(f"three tries, none both lost samples and stayed in the ramp: {stats}")
    ramp = (np.round(audio[: seconds * 16000] * 32768).astype(np.int64)) & 0xFFFF
    after_gap = np.nonzero((np.diff(ramp) - 1) % RAMP_PERIOD != 0)[0] + 1
    holding_a_gap = sorted({int(i) // 512 for i in after_gap})
    flagged = [i for i, f in enumerate(frames) if f.discontinuity]
    assert flagged == holding_a_gap


def test_capture_at_48k_stereo_goes_through_the_resampler(
    alsa: AlsaFixture, ring_name: str
) -> None:
    stereo = alsa.samples("v2mtest48", 2)
    audio, _, _, proc = _capture(
        alsa,
        ring_name,
        "--source",
        "device:v2mtest48",
        "--device-rate",
        "48000",
        "--device-channels",
        "2",
        "--duration",
        str(len(stereo) / 48000),
    )
    assert proc.returncode == 0
    reference = alsa.samples("v2mtest16", 1)[:, 0]  # the same speech, made at 16 kHz by sox
    n = min(len(reference), len(audio))
    # Sample-aligned (no lag search): the resampler removes its own delay.
    # Full band, the two filters' different edges near 8 kHz dominate the
    # error; below 6.5 kHz, what is left is 16-bit quantisation.
    full_snr = snr_db(reference[:n], audio[:n])
    band_snr = snr_db(lowpass(reference[:n], 6500), lowpass(audio[:n], 6500))
    assert full_snr > 33, f"full-band SNR {full_snr:.1f} dB"
    assert band_snr > 55, f"SNR below 6.5 kHz {band_snr:.1f} dB"


def test_an_unknown_device_is_a_clear_error(alsa: AlsaFixture, ring_name: str) -> None:
    result = alsa.engine("run", "--name", ring_name, "--source", "device:no-such-mic")
    assert result.returncode == 2
    assert "no capture device named 'no-such-mic'" in result.stderr
    assert "v2mtest16" in result.stderr and "v2m-engine devices" in result.stderr
    assert not ring_file(ring_name).exists()


def test_an_ambiguous_device_name_is_a_clear_error(alsa: AlsaFixture, ring_name: str) -> None:
    result = alsa.engine("run", "--name", ring_name, "--source", "device:v2m test capture")
    assert result.returncode == 2
    assert "matches several capture devices" in result.stderr
    assert not ring_file(ring_name).exists()


def test_a_device_format_it_does_not_offer_is_refused(alsa: AlsaFixture, ring_name: str) -> None:
    result = alsa.engine(
        "run", "--name", ring_name, "--source", "device:v2mtest16", "--device-rate", "2000"
    )
    assert result.returncode == 2
    assert "does not offer 2000 Hz" in result.stderr
    assert not ring_file(ring_name).exists()


def test_a_full_capture_queue_counts_lost_samples_and_flags_the_gap(
    alsa: AlsaFixture, ring_name: str
) -> None:
    # The test device delivers far faster than real time; a 10 ms queue between
    # the callback and the DSP thread overflows, and the callback must drop
    # (never wait) and account for every sample it dropped.
    proc = alsa.start(
        ring_name, "--capture-buffer-ms", "10", "--source", "device:v2mtest16", "--duration", "60"
    )
    try:
        with v2m.Reader(ring_name, start="oldest", wait=10) as reader:
            flagged = 0
            for frame in reader:
                flagged += frame.discontinuity
                if frame.index >= 1000:
                    break
            stats = reader.stats()
    finally:
        proc.terminate()
        proc.wait(10)
    assert stats["samples_lost"] > 0
    assert flagged > 0 and stats["discontinuities"] >= flagged
    assert proc.returncode == 0


def _library_dir_of(soname: str) -> Path | None:
    """The directory of this machine's (not a foreign architecture's) ``soname``."""
    found = Path("/usr/lib") / str(sysconfig.get_config_var("MULTIARCH")) / soname
    return found.resolve().parent if found.exists() else None


LIBASOUND_DIR = _library_dir_of("libasound.so.2")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or LIBASOUND_DIR is None,
    reason="hiding libasound needs root (a mount namespace) and an installed libasound",
)
def test_without_libasound_only_alsa_capture_fails_and_says_what_to_install(
    tmp_path: Path, ring_name: str
) -> None:
    """The engine loads libasound at run time (the wheel links only glibc): on a machine
    without it, everything but ALSA capture works (a tone, capture from a PulseAudio
    server), and ALSA capture says what to install.
    The library is hidden in a private mount namespace whose library directory is a
    view of the real one without libasound*."""
    assert LIBASOUND_DIR is not None
    real, view = tmp_path / "real", tmp_path / "view"
    real.mkdir()
    view.mkdir()
    for entry in LIBASOUND_DIR.iterdir():
        if not entry.name.startswith("libasound.so"):
            (view / entry.name).symlink_to(real / entry.name)
    hide = f'mount --bind "{LIBASOUND_DIR}" "{real}" && mount --bind "{view}" "{LIBASOUND_DIR}" && exec "$@"'

    def engine(
        *args: str, env: Optional[Dict[str, str]] = None
    ) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                hide,
                "sh",
                str(ENGINE),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    assert engine("--version").returncode == 0
    tone = engine(
        "run", "--name", ring_name, "--source", "tone:440", "--duration", "0.2", "--speed", "max"
    )
    assert tone.returncode == 0, tone.stderr
    for args in (
        ("run", "--name", ring_name, "--host", "alsa", "--source", "default"),
        ("devices", "--host", "alsa"),
    ):
        result = engine(*args)
        said = " ".join(result.stderr.split())
        assert result.returncode == 2, said
        assert "ALSA capture needs the system's libasound.so.2" in said, said
        assert "No such file or directory" in said and "sudo apt install libasound2" in said
        assert "--host pulseaudio" in said
    assert not ring_file(ring_name).exists(), "no ring is left behind"
    # The way out the error names: a PulseAudio (or PipeWire) server, with no libasound.
    if PulseServer.available():
        feed = tmp_path / "feed.raw"
        feed.write_bytes(bytes(2 * 16000 * 5))
        server = PulseServer(tmp_path / "runtime", feed)
        server.start()
        try:
            pulse = engine(
                "run",
                "--name",
                ring_name,
                "--host",
                "pulseaudio",
                "--duration",
                "0.5",
                env=server.env,
            )
        finally:
            server.stop()
        assert pulse.returncode == 0, pulse.stderr
