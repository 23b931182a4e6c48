"""No signal and no closed pipe crashes the engine or leaves its ring behind."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

import v2m
from support.engine import ENGINE, ROOT, Engines, engine_argv
from support.rings import ring_file, wait_for

FAST = 30


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT])
def test_hangup_and_quit_close_the_ring_cleanly(
    sig: signal.Signals, ring_name: str, engines: Engines
) -> None:
    engine = engines.run(ring_name, "tone:440", vad="off")
    with v2m.Reader(ring_name, wait=10) as reader:
        assert reader.read(timeout=5) is not None
        engine.send_signal(sig)
        assert engine.wait(5) == 0
        while reader.read(timeout=5) is not None:
            pass  # the frames published before the signal
        assert reader.ended, "readers see the ring close"
    assert not ring_file(ring_name).exists()


def test_a_stop_signal_delivered_twice_still_closes_the_ring_cleanly(
    ring_name: str, engines: Engines
) -> None:
    """`timeout` signals the engine and then its process group; a terminal's
    Ctrl-C reaches a wrapper that forwards it. Two stop signals that arrive
    together are one request, not "stop now, leave the ring behind"."""
    engine = engines.run(ring_name, "tone:440", vad="off")
    with v2m.Reader(ring_name, wait=10) as reader:
        assert reader.read(timeout=5) is not None
        # Held stopped, the engine takes both signals the moment it continues.
        engine.send_signal(signal.SIGSTOP)
        engine.send_signal(signal.SIGINT)
        engine.send_signal(signal.SIGTERM)
        engine.send_signal(signal.SIGCONT)
        assert engine.wait(5) == 0, "a clean shutdown, not the forced exit"
    assert not ring_file(ring_name).exists()


def test_unused_signals_are_ignored_and_usr1_reports(ring_name: str, engines: Engines) -> None:
    engine = engines.run(ring_name, "tone:440", vad="off")
    with v2m.Reader(ring_name, wait=10) as reader:
        assert reader.read(timeout=5) is not None
        for sig in (signal.SIGUSR2, signal.SIGALRM, signal.SIGUSR1):
            engine.send_signal(sig)
            for _ in range(3):
                assert reader.read(timeout=5) is not None, f"frames keep coming after {sig.name}"
            assert engine.poll() is None
    engine.send_signal(signal.SIGTERM)
    _, stderr = engine.communicate(timeout=5)
    assert engine.returncode == 0
    assert b"frames published" in stderr, "SIGUSR1 logs a status line"


def _closed_pipe() -> int:
    """The write end of a pipe whose read end is already closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def test_a_closed_stderr_does_not_stop_the_engine(ring_name: str) -> None:
    stderr = _closed_pipe()
    try:
        engine = subprocess.run(
            [
                str(ENGINE),
                "run",
                *engine_argv(ring_name, "noise", duration=0.5, speed="max", linger=0, vad="off"),
            ],
            stderr=stderr,
            timeout=FAST,
        )
    finally:
        os.close(stderr)
    assert engine.returncode == 0
    assert not ring_file(ring_name).exists()


def test_a_full_stderr_does_not_block_the_engine(ring_name: str) -> None:
    # Nobody reads this pipe: once its buffer is full a blocking write would hang.
    read_end, write_end = os.pipe()
    os.write(write_end, b"x" * 65536)  # fill the pipe's buffer (64 KiB on Linux)
    os.set_blocking(write_end, True)
    try:
        engine = subprocess.run(
            [
                str(ENGINE),
                "run",
                *engine_argv(ring_name, "noise", duration=0.5, speed="max", linger=0, vad="off"),
            ],
            stderr=write_end,
            timeout=FAST,
        )
    finally:
        os.close(write_end)
        os.close(read_end)
    assert engine.returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--name", "{ring}"],
        ["status", "--name", "{ring}", "--json"],
        ["devices"],
        ["layout"],
        ["bench-vad", "--source", f"file:{ROOT / 'assets' / 'speech.wav'}", "--vad", "energy"],
    ],
    ids=["status", "status-json", "devices", "layout", "bench-vad"],
)
def test_printing_commands_exit_quietly_on_a_closed_stdout(
    args: list[str], ring_name: str, engines: Engines
) -> None:
    if "{ring}" in args:
        engines.run(ring_name, "silence", vad="off")
        wait_for(lambda: ring_file(ring_name).exists(), what="the ring")
    stdout = _closed_pipe()
    try:
        result = subprocess.run(
            [str(ENGINE), *(a.replace("{ring}", ring_name) for a in args)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=FAST,
        )
    finally:
        os.close(stdout)
    assert result.returncode == 0, result.stderr
    # Nothing but the engine's own informational lines (`devices` says which audio
    # host it chose): no panic, no error, no warning about the pipe.
    lines = result.stderr.decode().splitlines()
    assert all(
        line.startswith("v2m-engine: ")
        and not line.startswith(("v2m-engine: error", "v2m-engine: warning"))
        for line in lines
    ), result.stderr


def test_the_log_thread_keeps_every_message_in_order(tmp_path: Path, ring_name: str) -> None:
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as stderr:
        subprocess.run(
            [
                str(ENGINE),
                "run",
                *engine_argv(ring_name, "silence", duration=0.1, speed="max", linger=0, vad="off"),
            ],
            stderr=stderr,
            timeout=FAST,
            check=True,
        )
    lines = log.read_text().splitlines()
    assert lines[0].startswith(f"v2m-engine: ring '{ring_name}'")
    assert lines[-1] == f"v2m-engine: ring '{ring_name}' closed after 4 frames"
