"""Every option value of ``utterances()``, ``vad_events()``, ``Reader()``, ``read()``
and the tools is checked when the call is made: a wrong type is a TypeError and a
value out of range a ValueError, each naming the option and what it takes. (The
engine's options through ``spawn()`` are in ``test_spawn.py``.)"""

from __future__ import annotations

import subprocess
from typing import Any, Dict, Iterator, Type

import pytest

import v2m
from support.engine import PYTHON
from support.python_writer import PythonWriter


@pytest.fixture
def reader(ring_name: str) -> Iterator[v2m.Reader]:
    writer = PythonWriter(ring_name, slots=16)
    writer.publish(0)
    with v2m.Reader(ring_name, start="oldest") as r:
        yield r
    writer.remove()


UTTERANCES = [
    (
        {"min_silence_ms": -5},
        ValueError,
        "min_silence_ms must be a number of milliseconds at least 0",
    ),
    ({"min_speech_ms": float("nan")}, ValueError, "min_speech_ms must be"),
    (
        {"speech_pad_ms": "300"},
        TypeError,
        "speech_pad_ms must be a number of milliseconds, not str",
    ),
    ({"threshold": 5}, ValueError, "threshold must be a number at least 0 and at most 1, not 5"),
    ({"threshold": True}, TypeError, "threshold must be a number"),
    ({"neg_threshold": -0.1}, ValueError, "neg_threshold must be"),
    ({"threshold": 0.3, "neg_threshold": 0.4}, ValueError, r"neg_threshold \(0.4\) must not"),
    (
        {"max_utterance_s": 0},
        ValueError,
        "max_utterance_s must be a number of seconds at least 0.032",
    ),
    ({"max_utterance_s": -1.0}, ValueError, "max_utterance_s must be"),
]


@pytest.mark.parametrize("options,error,message", UTTERANCES)
def test_utterance_options_are_checked_at_the_call(
    reader: v2m.Reader, options: Dict[str, Any], error: Type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        reader.utterances(**options)
    with pytest.raises(error, match=message):
        reader.utterances_async(**options)  # at the call, not when iteration starts


def test_infinite_max_utterance_s_is_allowed(reader: v2m.Reader) -> None:
    reader.utterances(max_utterance_s=float("inf"), min_silence_ms=0, speech_pad_ms=0)


EVENTS = [
    (
        {"min_silence_ms": -1},
        ValueError,
        "min_silence_ms must be a number of milliseconds at least 0",
    ),
    ({"speech_pad_ms": "30"}, TypeError, "speech_pad_ms must be a number"),
    ({"threshold": 1.5}, ValueError, "threshold must be a number at least 0 and at most 1"),
]


@pytest.mark.parametrize("options,error,message", EVENTS)
def test_event_options_are_checked_at_the_call(
    reader: v2m.Reader, options: Dict[str, Any], error: Type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        reader.vad_events(**options)
    with pytest.raises(error, match=message):
        reader.vad_events_async(**options)


READER = [
    ({"start": "first"}, ValueError, "start must be one of 'latest', 'oldest', not 'first'"),
    ({"wait": -1}, ValueError, "wait must be a number of seconds at least 0"),
    ({"wait": "5"}, TypeError, "wait must be a number of seconds, not str"),
    ({"copy": 1}, TypeError, "copy must be True or False, not int 1"),
    ({"pace": "yes"}, TypeError, "pace must be True or False"),
    ({"owner": -3}, ValueError, "owner must be a whole number at least 0"),
    ({"owner": "root"}, TypeError, "owner must be a whole number"),
    ({"wake": "spin"}, ValueError, "wake must be one of 'futex', 'adaptive'"),
    ({"name": 7}, TypeError, "ring name must be a str"),
    ({"name": "../etc"}, ValueError, "ring name '../etc' must be 1-64 characters"),
]


@pytest.mark.parametrize("options,error,message", READER)
def test_reader_options_are_checked(
    ring_name: str, options: Dict[str, Any], error: Type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        v2m.Reader(**{"name": ring_name, **options})


def test_read_timeouts_are_checked(reader: v2m.Reader) -> None:
    with pytest.raises(ValueError, match="timeout must be a number of seconds at least 0"):
        reader.read(timeout=-1)
    with pytest.raises(TypeError, match="timeout must be a number"):
        reader.read(timeout="1")  # type: ignore[arg-type]


TOOLS = [
    (
        ["v2m.tools.record", "out.wav", "--duration", "-1"],
        "--duration: must be a number of seconds more than 0",
    ),
    (["v2m.tools.record", "out.wav", "--wait", "x"], "--wait: 'x' is not a number of seconds"),
    (["v2m.tools.record", "out.wav", "--name", ".hidden"], "ring name '.hidden' must be"),
    (
        ["v2m.tools.exporter", "--port", "70000"],
        "--port: must be a number at least 0 and at most 65535",
    ),
    (["v2m.tools.exporter", "--port", "8.5"], "--port: '8.5' is not a whole number"),
    (
        ["v2m.tools.monitor", "--refresh", "0"],
        "--refresh: must be a number of redraws per second at least 1",
    ),
    (
        ["v2m.tools.monitor", "--duration", "0"],
        "--duration: must be a number of seconds more than 0",
    ),
]


@pytest.mark.parametrize("argv,message", TOOLS, ids=[" ".join(a[1:]) for a, _ in TOOLS])
def test_tool_options_are_checked(argv: list[str], message: str) -> None:
    result = subprocess.run([PYTHON, "-m", *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_the_old_asyncio_names_still_work_and_say_the_new_ones(reader: v2m.Reader) -> None:
    with pytest.warns(DeprecationWarning, match=r"now Reader.utterances_async\(\)"):
        assert hasattr(reader.autterances(), "__anext__")
    with pytest.warns(DeprecationWarning, match=r"now Reader.vad_events_async\(\)"):
        assert hasattr(reader.avad_events(), "__anext__")
