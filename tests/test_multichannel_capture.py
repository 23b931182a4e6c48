"""Multi-channel rings through the real capture path: a 4-channel ALSA file PCM (at
the ring's rate, bit-exact, and at 48 kHz, each channel resampled on its own), and
4-channel null sinks of private PulseAudio and PipeWire servers, each channel the
one played into it, none mixed into another."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path
from typing import Callable, Iterator, List, Union

import numpy as np
import numpy.typing as npt
import pytest

import v2m
from support.alsa_files import FilePcm, alsa_env
from support.engine import ENGINE, ROOT
from support.feed_match import glitches
from support.pipewire_server import SINK, PipeWireServer, wav_file
from support.pulse_server import PulseServer
from support.rings import ring_file
from support.snr import lowpass, snr_db

SPEECH = ROOT / "assets" / "speech.wav"
RATE = 16000
CHANNELS = 4
Int16s = npt.NDArray[np.int16]
NEEDS_SOX = pytest.mark.skipif(
    subprocess.run(["which", "sox"], capture_output=True).returncode != 0,
    reason="sox is needed (make test installs it)",
)


def four_signals() -> Int16s:
    """Four different signals of the same length, (n, 4) int16 at 16 kHz: speech,
    the speech backwards, the speech inverted and 0.25 s late, a 1 kHz tone."""
    with wave.open(str(SPEECH)) as speech_file:
        speech = np.frombuffer(speech_file.readframes(speech_file.getnframes()), "<i2")
    n = len(speech)
    late = np.concatenate([np.zeros(4000, np.int16), -speech[: n - 4000].astype(np.int32)])
    tone = 6000 * np.sin(2 * np.pi * 1000 * np.arange(n) / RATE)
    return np.stack([speech, speech[::-1], np.clip(late, -32767, 32767), tone], axis=1).astype(
        np.int16
    )


class FourChannelPcms:
    """ALSA file PCMs replaying ``four_signals()`` at 16 kHz and, made by sox, at 48 kHz."""

    def __init__(self, root: Path) -> None:
        self.signals = four_signals()
        at16 = root / "four16.raw"
        self.signals.astype("<i2").tofile(at16)
        at48 = root / "four48.raw"
        subprocess.run(
            ["sox", "-t", "raw", "-r", "16000", "-c", "4", "-b", "16", "-e", "signed-integer"]
            + [str(at16), "-r", "48000", str(at48)],
            check=True,
        )
        self.env = alsa_env(
            root / "asound.conf",
            [
                FilePcm("v2mfour16", at16, 16000, CHANNELS, "v2m test 4 ch 16000 Hz"),
                FilePcm("v2mfour48", at48, 48000, CHANNELS, "v2m test 4 ch 48000 Hz"),
            ],
        )

    def capture(self, ring_name: str, device: str, rate: int) -> npt.NDArray[np.float32]:
        """Every frame the engine publishes from `device` at `rate` over the
        signals' length, as (samples, channels)."""
        seconds = len(self.signals) / RATE
        engine = subprocess.Popen(
            [str(ENGINE), "run", "--name", ring_name, "--vad", "off", "--linger", "5"]
            + ["--source", f"device:{device}", "--device-rate", str(rate)]
            + ["--device-channels", str(CHANNELS), "--channels", str(CHANNELS)]
            + ["--capture-buffer-ms", "60000", "--duration", str(seconds)],
            env=self.env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            with v2m.Reader(ring_name, start="oldest", wait=10, copy=True) as reader:
                assert reader.info.channels == CHANNELS
                frames = list(reader)
                assert reader.dropped == 0
        finally:
            engine.terminate()
            _, stderr = engine.communicate(timeout=10)
        assert engine.returncode == 0, stderr
        assert f"{rate} Hz, 4 channel(s)" in stderr, stderr
        audio = np.concatenate([f.samples for f in frames])
        assert audio.shape[1] == CHANNELS
        return audio


@pytest.fixture(scope="module")
def pcms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FourChannelPcms]:
    yield FourChannelPcms(tmp_path_factory.mktemp("alsa4"))


@NEEDS_SOX
def test_four_device_channels_reach_the_ring_bit_exact(
    pcms: FourChannelPcms, ring_name: str
) -> None:
    audio = pcms.capture(ring_name, "v2mfour16", 16000)
    expected = pcms.signals.astype(np.float32) / np.float32(32768)
    assert np.array_equal(audio[: len(expected)], expected), "every channel, bit for bit"
    assert not ring_file(ring_name).exists()


@NEEDS_SOX
def test_four_48k_device_channels_are_each_resampled(pcms: FourChannelPcms, ring_name: str) -> None:
    """The same SNR bars as the mono resampling test, on every channel: a channel
    mixed into another, or shifted against the others, would fail them."""
    audio = pcms.capture(ring_name, "v2mfour48", 48000)
    reference = pcms.signals.astype(np.float64) / 32768
    n = min(len(reference), len(audio))
    for k in range(CHANNELS):
        full = snr_db(reference[:n, k], audio[:n, k])
        band = snr_db(lowpass(reference[:n, k], 6500), lowpass(audio[:n, k], 6500))
        assert full > 33 and band > 55, f"channel {k}: SNR {full:.1f} dB, below 6.5 kHz {band:.1f}"


def _noise_feed(seconds: float) -> npt.NDArray[np.float64]:
    """Four independent streams of white noise at 16-bit steps, (n, 4)."""
    steps = np.random.default_rng(11).integers(-9000, 9000, (int(seconds * RATE), CHANNELS))
    return steps / 32768.0


def _pulseaudio(tmp: Path, feed: npt.NDArray[np.float64]) -> PulseServer:
    raw = tmp / "feed.raw"
    np.round(feed * 32768).astype("<i2").tofile(raw)
    return PulseServer(tmp / "runtime", raw, RATE, channels=CHANNELS)


def _pipewire(tmp: Path, feed: npt.NDArray[np.float64]) -> PipeWireServer:
    return PipeWireServer(
        tmp / "runtime", wav_file(tmp / "feed.wav", feed, RATE), RATE, channels=CHANNELS
    )


NEEDS_PULSE = pytest.mark.skipif(not PulseServer.available(), reason="needs pulseaudio")
SERVER_CASES = [
    # What --host auto picks on a PulseAudio desktop: ALSA's pulse plugin.
    pytest.param(
        (_pulseaudio, ["--host", "alsa", "--source", "device:pulse"]),
        marks=NEEDS_PULSE,
        id="pulseaudio-through-alsa",
    ),
    pytest.param(
        (_pulseaudio, ["--host", "pulseaudio", "--source", f"device:{SINK}.monitor"]),
        marks=[
            NEEDS_PULSE,
            pytest.mark.xfail(
                strict=True,
                reason="cpal 0.18.2's PulseAudio host asks the server to hold one buffer of a "
                "recording (maxlength = fragsize), and a 4-channel null sink's monitor then "
                "drops about a buffer every 8192 samples, unreported; mono is not affected",
            ),
        ],
        id="pulseaudio-native",
    ),
    pytest.param(
        (_pipewire, ["--host", "pipewire", "--source", f"device:{SINK}"]),
        marks=pytest.mark.skipif(not PipeWireServer.available(), reason="needs pipewire"),
        id="pipewire",
    ),
]


@pytest.mark.parametrize("case", SERVER_CASES)
def test_a_four_channel_sink_is_captured_channel_by_channel(
    case: tuple[
        Callable[[Path, npt.NDArray[np.float64]], Union[PulseServer, PipeWireServer]], List[str]
    ],
    tmp_path: Path,
    ring_name: str,
) -> None:
    make_server, args = case
    feed = _noise_feed(20)
    server = make_server(tmp_path, feed)
    server.start()
    engine = subprocess.Popen(
        [str(ENGINE), "run", "--name", ring_name, "--vad", "energy", "--linger", "0", *args]
        + ["--device-channels", str(CHANNELS), "--channels", str(CHANNELS)],
        env=server.env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with v2m.Reader(ring_name, wait=10, copy=True) as reader:
            assert reader.info.channels == CHANNELS
            frames = [reader.read(timeout=5) for _ in range(3 + 2 * RATE // 512)][3:]
    finally:
        engine.terminate()
        _, stderr = engine.communicate(timeout=15)
        server.stop()
    assert engine.returncode == 0, stderr
    assert all(f is not None for f in frames), stderr
    captured = np.concatenate([f.samples for f in frames if f is not None])
    assert captured.shape[1] == CHANNELS
    starts = []
    for k in range(CHANNELS):
        # As in the mono host tests: one glitch is the shared VM stalling the server.
        not_feed, jumps, places = glitches(captured[:, k], feed[:, k])
        assert len(not_feed) <= 1 and len(jumps) <= 1, (k, not_feed, jumps)
        starts.append(places[len(places) // 2])
    assert len(set(starts)) == 1, f"the channels are not aligned: {starts}"
