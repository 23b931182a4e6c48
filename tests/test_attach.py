"""Attaching: never a half-written header; refusing unsupported machines."""

from __future__ import annotations

import platform

import pytest

import v2m
from conftest import Engines


def test_a_reader_racing_the_engine_start_never_sees_a_partial_header(
    ring_name: str, engines: Engines
) -> None:
    for _ in range(10):
        engine = engines.start("--name", ring_name, "--source", "silence", "--linger", "0")
        # Attach as early as possible: polling starts before the segment exists.
        with v2m.Reader(ring_name, wait=10) as reader:
            assert reader.info.writer_pid == engine.pid
            assert reader.slots == 2048
        engine.terminate()
        assert engine.wait(5) == 0


def test_other_architectures_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    with pytest.raises(v2m.UnsupportedPlatform, match="x86-64 load ordering"):
        v2m.Reader("anything")
