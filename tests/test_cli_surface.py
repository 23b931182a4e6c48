"""What the Python package mirrors from the engine agrees with the engine's own
definitions, read from ``v2m-engine flags`` (which reads them from clap): every
``run`` flag is a typed :class:`v2m.spawn.EngineOptions` keyword, the rule for the
end threshold is the same number, and ``Engine.reader()`` takes what ``Reader`` does."""

from __future__ import annotations

import inspect
import json
import os
from typing import Any, Dict, Union, get_type_hints

import pytest

import v2m
from support.engine import run_engine
from v2m import speech
from v2m.spawn import EngineOptions

SET_BY_SPAWN = {"name", "source", "vad", "die_with_parent"}
PYTHON_TYPE = {
    "flag": bool,
    "int": int,
    "float": float,
    "str": str,
    "path": Union[str, "os.PathLike[str]"],
    "str|float": Union[str, float],
    "str|int": Union[str, int],
}


@pytest.fixture(scope="module")
def reference() -> Dict[str, Any]:
    result = run_engine("flags")
    assert result.returncode == 0, result.stderr
    doc: Dict[str, Any] = json.loads(result.stdout)
    return doc


def test_engine_options_mirror_every_run_flag_with_its_type(reference: Dict[str, Any]) -> None:
    flags = reference["commands"]["run"]["flags"] + reference["global"]
    wanted = {f["keyword"]: f["kind"] for f in flags if f["keyword"] not in SET_BY_SPAWN}
    hints = get_type_hints(EngineOptions, {"os": os})
    assert set(hints) == set(wanted), "EngineOptions and `v2m-engine run` differ"
    for keyword, kind in wanted.items():
        expected = PYTHON_TYPE[kind]
        if isinstance(expected, type):
            assert hints[keyword] is expected, (keyword, kind, hints[keyword])
        else:
            assert (
                hints[keyword]
                == get_type_hints(type("T", (), {"__annotations__": {"x": expected}}), {"os": os})[
                    "x"
                ]
            ), (keyword, kind, hints[keyword])


def test_the_end_threshold_rule_is_the_engines(reference: Dict[str, Any]) -> None:
    assert reference["derived"]["vad_neg_threshold_gap"] == speech.NEG_THRESHOLD_GAP
    defaults = {f["keyword"]: f["default"] for f in reference["commands"]["run"]["flags"]}
    threshold = float(defaults["vad_threshold"])
    assert defaults["vad_neg_threshold"] is None, "derived from the threshold, not fixed"
    assert abs(speech.neg_threshold_for(threshold) - (threshold - 0.15)) < 1e-9


def test_engine_reader_takes_what_reader_takes() -> None:
    reader = inspect.signature(v2m.Reader.__init__).parameters
    engine = inspect.signature(v2m.Engine.reader).parameters
    # The engine decides the name; the owner is this process's own user.
    assert set(reader) - {"name", "owner"} == set(engine)
    for name, parameter in engine.items():
        if name in ("self", "start"):
            continue  # Engine.reader() starts at the oldest frame, on purpose
        assert parameter.default == reader[name].default, name
        assert parameter.kind == reader[name].kind, name
