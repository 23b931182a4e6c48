"""Rings of more than one channel: ``--channels N|all`` and ``--channel-map`` keep the
source's channels (each bit-exact at the ring's rate, each resampled on its own
otherwise), ``--vad-channel`` says what the VAD hears and the header records it, and the
reader, ``utterances(channel=)`` and ``v2m-record`` give the shapes the NumPy convention
promises: ``(frame_samples, channels)``."""

from __future__ import annotations

import signal
import socket
import subprocess
import urllib.request
import wave
from pathlib import Path
from typing import Iterator, List

import numpy as np
import numpy.typing as npt
import pytest

import v2m
from support.engine import ENGINE, PYTHON, Engines, run_engine
from support.rings import ring_file, wait_for

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "assets" / "speech.wav"
RATE = 16000
Int16s = npt.NDArray[np.int16]


def _write_wav(path: Path, channels: Int16s, rate: int = RATE) -> None:
    """``channels`` (shape (n, c), int16) as a c-channel PCM WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(channels.astype("<i2").tobytes())


@pytest.fixture(scope="module")
def four_channels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Int16s]]:
    """Speech on channel 0, silence on 1, noise on 2, a tone on 3 (16 kHz int16)."""
    with wave.open(str(SPEECH)) as speech_file:
        speech = np.frombuffer(speech_file.readframes(speech_file.getnframes()), "<i2")
    n = len(speech)
    noise = np.random.default_rng(3).integers(-3000, 3000, n).astype(np.int16)
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(n) / RATE)).astype(np.int16)
    channels = np.stack([speech, np.zeros(n, np.int16), noise, tone], axis=1)
    path = tmp_path_factory.mktemp("multichannel") / "four.wav"
    _write_wav(path, channels)
    yield path, channels


def _read_all(engines: Engines, ring_name: str, source: str, **options: object) -> v2m.Reader:
    engines.run(ring_name, source, speed="max", linger=30, **options)
    return v2m.Reader(ring_name, start="oldest", wait=20)


def _ring_audio(reader: v2m.Reader) -> npt.NDArray[np.float32]:
    frames: List[npt.NDArray[np.float32]] = []
    last_valid = reader.frame_samples
    for frame in reader:
        frames.append(frame.samples.copy())
        last_valid = frame.valid_samples
    audio = np.concatenate(frames)
    return audio[: len(audio) - (reader.frame_samples - last_valid)]


def test_four_channels_reach_the_ring_bit_exact(
    ring_name: str, engines: Engines, four_channels: tuple[Path, Int16s]
) -> None:
    path, channels = four_channels
    with _read_all(engines, ring_name, f"file:{path}", channels=4, vad="off") as reader:
        assert reader.info.channels == 4 and reader.info.vad_channel is None
        audio = _ring_audio(reader)
        first = reader.peek(0)
        assert first is not None and first.samples.shape == (reader.frame_samples, 4)
        window = reader.window(0, 2)
        assert window.shape == (2 * reader.frame_samples, 4)
        assert np.array_equal(window, audio[: 2 * reader.frame_samples])
    expected = channels.astype(np.float32) / np.float32(32768)
    assert audio.shape == expected.shape
    assert np.array_equal(audio, expected), "every channel, every sample, exactly"


def test_a_channel_map_picks_and_orders_the_source_channels(
    ring_name: str, engines: Engines, four_channels: tuple[Path, Int16s]
) -> None:
    path, channels = four_channels
    with _read_all(engines, ring_name, f"file:{path}", channel_map="3,0", vad="off") as reader:
        assert reader.info.channels == 2
        audio = _ring_audio(reader)
    expected = channels[:, [3, 0]].astype(np.float32) / np.float32(32768)
    assert np.array_equal(audio, expected)


def test_by_default_the_channels_are_mixed_to_mono_as_before(
    ring_name: str, engines: Engines, four_channels: tuple[Path, Int16s]
) -> None:
    path, channels = four_channels
    with _read_all(engines, ring_name, f"file:{path}", vad="off") as reader:
        assert reader.info.channels == 1
        audio = _ring_audio(reader)
    mix = (channels.astype(np.float32) / np.float32(32768)).sum(axis=1) * np.float32(0.25)
    assert audio.shape == mix.shape and np.allclose(audio, mix, atol=1e-6)


def test_the_vad_hears_the_channel_it_is_given(
    ring_name: str, engines: Engines, four_channels: tuple[Path, Int16s]
) -> None:
    """Silero on the speech channel finds the sentences, and utterances(channel=0) hands
    out that channel alone; on the silent channel it finds none."""
    path, channels = four_channels
    source = f"file:{path}"
    with _read_all(engines, ring_name, source, channels=4, vad_channel=0) as reader:
        assert reader.info.vad_channel == 0
        spoken = list(reader.utterances(channel=0))
    assert len(spoken) >= 2, "the sentences of the speech channel"
    for u in spoken:
        assert u.audio.ndim == 1
        first = u.first_index * reader.frame_samples
        expected = channels[first : first + len(u.audio), 0].astype(np.float32) / 32768
        assert np.array_equal(u.audio, expected)
    engines.stop_all()
    silent_ring = f"{ring_name}-silent"
    try:
        with _read_all(engines, silent_ring, source, channels=4, vad_channel=1) as reader:
            assert reader.info.vad_channel == 1
            both = list(reader.utterances())
        assert both == [], "silence on the VAD's channel: no speech"
    finally:
        engines.stop_all()
        wait_for(lambda: not ring_file(silent_ring).exists(), what="the second ring to go")


def test_every_channel_is_resampled_on_its_own(
    ring_name: str, engines: Engines, tmp_path: Path
) -> None:
    """48 kHz in, four tones of different pitch: at 16 kHz each ring channel is its own
    tone, in phase (the resampler's delay is cancelled), with no leakage from the
    others."""
    n, rate = 48000 * 2, 48000
    pitches = [300.0, 700.0, 1100.0, 2300.0]
    t = np.arange(n) / rate
    source = np.stack([0.25 * np.sin(2 * np.pi * f * t) for f in pitches], axis=1)
    path = tmp_path / "tones48k.wav"
    _write_wav(path, np.rint(source * 32767).astype(np.int16), rate)
    with _read_all(engines, ring_name, f"file:{path}", channels=4, vad="off") as reader:
        audio = _ring_audio(reader)
    assert audio.shape == (n // 3, 4)
    middle = slice(1600, n // 3 - 1600)
    t16 = np.arange(n // 3)[middle] / RATE
    for k, f in enumerate(pitches):
        expected = 0.25 * np.sin(2 * np.pi * f * t16)
        error = audio[middle, k] - expected
        snr_db = 10 * np.log10(np.sum(expected**2) / np.sum(error**2))
        assert snr_db > 40, f"channel {k} ({f} Hz): {snr_db:.1f} dB"


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--channels", "5"], "--channels 5 needs 5 source channels"),
        (["--channel-map", "0,4"], "--channel-map 0,4 needs 5 source channels"),
        (["--channels", "4", "--vad-channel", "4"], "--vad-channel 4 is not a channel"),
        (["--channels", "2", "--channel-map", "0,1,2"], "disagree"),
        (["--channels", "17"], "channels are a count in 1..=16, or all"),
        (["--vad-channel", "left"], "the VAD channel is mix or a ring channel"),
    ],
)
def test_channel_requests_a_source_cannot_meet_are_refused_before_the_ring_exists(
    ring_name: str, four_channels: tuple[Path, Int16s], flags: List[str], said: str
) -> None:
    path, _ = four_channels
    result = run_engine("run", "--name", ring_name, "--source", f"file:{path}", *flags)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr, result.stderr
    assert not ring_file(ring_name).exists()


def test_the_recorder_writes_every_channel(
    ring_name: str, engines: Engines, four_channels: tuple[Path, Int16s], tmp_path: Path
) -> None:
    path, channels = four_channels
    out = tmp_path / "out.wav"
    recorder = subprocess.Popen(
        [str(Path(PYTHON).parent / "v2m-record"), str(out), "--name", ring_name]
        + ["--start", "oldest", "--wait", "20"],
        stderr=subprocess.PIPE,
        text=True,
    )
    engines.run(ring_name, f"file:{path}", speed="max", linger=1, channels=4, vad="off")
    assert recorder.wait(60) == 0, recorder.stderr.read() if recorder.stderr else ""
    with wave.open(str(out)) as written:
        assert (written.getnchannels(), written.getframerate()) == (4, RATE)
        back = np.frombuffer(written.readframes(written.getnframes()), "<i2").reshape(-1, 4)
    # int16 → float32 (÷32768) → int16 (×32767, rounded): within one step.
    assert back.shape[0] >= channels.shape[0]
    difference = back[: channels.shape[0]].astype(int) - channels.astype(int)
    assert np.abs(difference).max() <= 1
    assert np.array_equal(back[channels.shape[0] :], np.zeros_like(back[channels.shape[0] :]))


def test_spawn_passes_the_channel_options(four_channels: tuple[Path, Int16s]) -> None:
    path, _ = four_channels
    with v2m.spawn(
        source=f"file:{path}", speed="max", linger=5, vad="off", channel_map="2,1"
    ) as running:
        with running.reader() as reader:
            assert reader.info.channels == 2


def test_the_engine_says_how_many_channels_it_keeps(
    ring_name: str, four_channels: tuple[Path, Int16s]
) -> None:
    path, _ = four_channels
    proc = subprocess.Popen(
        [str(ENGINE), "run", "--name", ring_name, "--source", f"file:{path}", "--speed", "max"]
        + ["--channels", "all", "--vad-channel", "0", "--linger", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=120)
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    assert proc.returncode == 0, err
    assert "Hz 4 channels" in err and "on channel 0" in err, err


LAYOUT_1_3_READER = "c96d5f0"  # the last commit whose reader knew layout 1.3 only


@pytest.mark.skipif(
    subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{LAYOUT_1_3_READER}^{{commit}}"],
        capture_output=True,
    ).returncode
    != 0,
    reason="needs the repository's history (a git checkout)",
)
def test_a_reader_from_before_multichannel_rings_reads_one_correctly(
    ring_name: str, engines: Engines, four_channels: tuple[Path, Int16s], tmp_path: Path
) -> None:
    """Layout 1.4 only added a field in reserved space: a 1.3 reader takes the ring's
    channel count from the header, as it always did, and reads every channel right."""
    path, channels = four_channels
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", LAYOUT_1_3_READER, "pyclient/v2m"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
    engines.run(ring_name, f"file:{path}", speed="max", linger=30, channels=4, vad="off")
    read = (
        "import sys, numpy as np, v2m\n"
        "assert v2m.layout.VERSION_MINOR == 3\n"
        f"r = v2m.Reader({ring_name!r}, start='oldest', wait=20)\n"
        "f = np.concatenate([x.samples.copy() for x in r])\n"
        "np.save(sys.argv[1], f)\n"
    )
    out = tmp_path / "old.npy"
    done = subprocess.run(
        [PYTHON, "-c", read, str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "pyclient")},
    )
    assert done.returncode == 0, done.stderr
    audio = np.load(out)[: len(channels)]
    assert audio.shape == channels.shape
    assert np.array_equal(audio, channels.astype(np.float32) / np.float32(32768))


def test_the_monitor_and_the_exporter_show_a_level_per_channel(
    ring_name: str, engines: Engines, four_channels: tuple[Path, Int16s]
) -> None:
    """Speech, silence, noise and a tone: each channel's own level, the exporter's with
    a ``channel`` label."""
    from prometheus_client.parser import text_string_to_metric_families

    path, _ = four_channels
    engines.run(ring_name, f"file:{path}", loop=True, channels=4, vad="energy")
    bin_dir = Path(PYTHON).parent
    monitor = subprocess.run(
        [str(bin_dir / "v2m-monitor"), "--name", ring_name, "--plain", "--duration", "2.5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert monitor.returncode == 0, monitor.stderr
    line = monitor.stdout.splitlines()[-1]
    assert "channels rms 0:" in line and " 1:-120.0 " in line, line

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    exporter = subprocess.Popen(
        [str(bin_dir / "v2m-exporter"), "--port", str(port), "--name", ring_name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        levels: dict[tuple[str, str], float] = {}

        def scraped() -> bool:
            try:
                url = f"http://127.0.0.1:{port}/metrics"
                text = urllib.request.urlopen(url, timeout=5).read().decode()
            except OSError:
                return False
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "v2m_channel_level_dbfs":
                        labels = sample.labels
                        levels[(labels["channel"], labels["measure"])] = sample.value
            return len(levels) == 8

        wait_for(scraped, timeout=15, what="the exporter's per-channel levels")
    finally:
        exporter.terminate()
        exporter.wait(10)
    assert levels[("1", "rms")] == -120.0 and levels[("1", "peak")] == -120.0, levels
    # The tone (amplitude 8000/32768): RMS 20·log10(0.244/√2) = -15.3 dBFS.
    assert abs(levels[("3", "rms")] - -15.3) < 0.3, levels
    # Noise uniform in ±3000/32768: RMS 0.0916/√3, -25.5 dBFS.
    assert abs(levels[("2", "rms")] - -25.5) < 0.5, levels
