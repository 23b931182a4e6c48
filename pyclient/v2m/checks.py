"""Checks of option values, made when a call is made: a wrong type is a ``TypeError``
and a value out of range a ``ValueError``, each naming the option and what it takes."""

from __future__ import annotations

import math
import numbers
from typing import Iterable, Optional, TypeVar

T = TypeVar("T")


def number(
    name: str,
    value: object,
    *,
    unit: str = "",
    low: Optional[float] = None,
    high: Optional[float] = None,
    above: Optional[float] = None,
    infinite: bool = False,
) -> float:
    """``value`` as a float: a real number (not a bool, not NaN), at least ``low``, more
    than ``above``, at most ``high``; infinity only when ``infinite``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number{_of(unit)}, not {type(value).__name__} {value!r}")
    x = float(value)
    wanted = f"a number{_of(unit)} {_bounds(low, high, above)}".rstrip()
    if math.isnan(x) or (math.isinf(x) and not infinite):
        raise ValueError(f"{name} must be {wanted}, not {value!r}")
    if (low is not None and x < low) or (above is not None and x <= above):
        raise ValueError(f"{name} must be {wanted}, not {value!r}")
    if high is not None and x > high:
        raise ValueError(f"{name} must be {wanted}, not {value!r}")
    return x


def integer(
    name: str, value: object, *, low: Optional[int] = None, high: Optional[int] = None
) -> int:
    """``value`` as an int (not a bool) within ``low .. high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number, not {type(value).__name__} {value!r}")
    x = int(value)
    if (low is not None and x < low) or (high is not None and x > high):
        raise ValueError(f"{name} must be a whole number {_bounds(low, high, None)}, not {x}")
    return x


def probability(name: str, value: object) -> float:
    """A probability in [0, 1]."""
    return number(name, value, low=0.0, high=1.0)


def flag(name: str, value: object) -> bool:
    """A bool (``1`` or ``"yes"`` are refused: they are usually a mistake)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__} {value!r}")
    return value


def one_of(name: str, value: T, choices: Iterable[T]) -> T:
    """``value`` if it is one of ``choices``."""
    options = list(choices)
    if value not in options:
        listed = ", ".join(repr(c) for c in options)
        raise ValueError(f"{name} must be one of {listed}, not {value!r}")
    return value


def text(name: str, value: object) -> str:
    """A non-empty str."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__} {value!r}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def _of(unit: str) -> str:
    return f" of {unit}" if unit else ""


def _bounds(low: Optional[float], high: Optional[float], above: Optional[float]) -> str:
    parts = []
    if above is not None:
        parts.append(f"more than {above:g}")
    if low is not None:
        parts.append(f"at least {low:g}")
    if high is not None:
        parts.append(f"at most {high:g}")
    return " and ".join(parts)
