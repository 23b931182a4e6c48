"""Frames travel from a WAV file through the engine to Python readers intact."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import v2m
from support.engine import Engines
from support.readers import frame_reader, frame_reader_summary
from support.rings import ring_file, wait_for
from support.wav_files import noise_signal, write_wav

FRAME = 512


def test_three_reader_processes_get_every_frame_bit_exact(
    tmp_path: Path, ring_name: str, engines: Engines
) -> None:
    source = noise_signal(2.3)  # not a whole number of frames: the last one is padded
    wav = tmp_path / "talk.wav"
    write_wav(wav, source, 16000)
    readers = [frame_reader(ring_name, tmp_path / f"r{i}.npz") for i in range(3)]
    engine = engines.run(ring_name, f"file:{wav}", speed=4, linger=1)
    summaries = [frame_reader_summary(r) for r in readers]
    assert engine.wait(30) == 0

    n_frames = -(-len(source) // FRAME)
    padded = np.zeros(n_frames * FRAME, np.float32)
    padded[: len(source)] = source
    expected = padded.reshape(n_frames, FRAME)
    for i, summary in enumerate(summaries):
        assert summary == {"frames": n_frames, "dropped": 0}
        got = np.load(tmp_path / f"r{i}.npz")
        assert list(got["indices"]) == list(range(n_frames))
        assert np.array_equal(got["samples"].view(np.uint32), expected.view(np.uint32)), "bit-exact"
        assert got["flags"][-1] & v2m.FLAG_PADDED
        assert not np.any(got["flags"][:-1] & v2m.FLAG_PADDED)
        assert got["valid"][-1] == len(source) - (n_frames - 1) * FRAME
        assert np.all(got["valid"][:-1] == FRAME)


def test_samples_are_read_only_views_into_the_shared_mapping(
    tmp_path: Path, ring_name: str, engines: Engines
) -> None:
    engines.run(ring_name, "tone:440", duration=5)
    with v2m.Reader(ring_name, wait=10) as reader:
        frame = next(reader)
        samples = frame.samples
        assert samples.dtype == np.float32 and samples.shape == (FRAME,)
        assert not samples.flags.writeable
        assert not samples.flags.owndata
        start, end = reader.address_range
        address = samples.ctypes.data
        assert start <= address and address + samples.nbytes <= end
        try:
            samples[0] = 1.0
        except ValueError:
            pass
        else:
            raise AssertionError("a frame's samples must not be writable")
        # A run of frames is one zero-copy view too.
        following = [next(reader) for _ in range(3)]
        first = following[0].index
        if (first % reader.slots) + 3 <= reader.slots:
            window = reader.window(first, 3)
            assert window.shape == (3 * FRAME,)
            assert not window.flags.owndata and not window.flags.writeable
            assert start <= window.ctypes.data < end
            assert np.array_equal(window[FRAME : 2 * FRAME], following[1].samples)
        assert frame.valid()
        # A paced source's last sample is due before the frame is published.
        assert 0 < frame.arrival_ns <= frame.publish_ns
        assert frame.capture_ns < frame.arrival_ns


def test_other_formats_are_converted_to_mono_at_the_ring_rate(
    tmp_path: Path, ring_name: str, engines: Engines
) -> None:
    # 48 kHz stereo 24-bit: a 440 Hz tone on the left, its inverse / 2 on the right.
    rate, seconds = 48000, 1.0
    t = np.arange(int(rate * seconds)) / rate
    left = 0.6 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, -0.5 * left], axis=1)
    wav = tmp_path / "stereo48k.wav"
    write_wav(wav, stereo, rate, bits=24, float_=False)
    engines.run(ring_name, f"file:{wav}", speed="max", linger=5)
    with v2m.Reader(ring_name, start="oldest", wait=10, copy=True) as reader:
        audio = np.concatenate([f.samples for f in reader])
    expected = 0.25 * 0.6 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert len(audio) == 32 * FRAME  # 16000 samples padded up to whole frames
    err = np.max(np.abs(audio[1000:15000] - expected[1000:15000]))
    assert err < 2e-3, f"resampled downmix deviates by {err}"


def test_a_looped_file_marks_each_restart(tmp_path: Path, ring_name: str, engines: Engines) -> None:
    wav = tmp_path / "short.wav"
    write_wav(wav, noise_signal(0.25), 16000, bits=16, float_=False)
    engines.run(ring_name, f"file:{wav}", loop=True, speed=20)
    with v2m.Reader(ring_name, start="oldest", wait=10) as reader:
        restarts = 0
        for frame in reader:
            if frame.flags & v2m.FLAG_SOURCE_RESTART:
                assert frame.discontinuity
                restarts += 1
            if restarts == 3:
                break
        assert reader.stats()["source_restarts"] >= 3
    wait_for(lambda: ring_file(ring_name).exists(), what="ring still up while looping")
