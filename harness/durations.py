"""Durations in scenario files: seconds, with a unit, or relative to the target's timing.

`1.5`, `"250ms"`, `"2s"`, `"2 heartbeats"`, `"silence + 0.5s"`, `"cap - 1s"`: one catalogue runs
against sub-second test timings and against a production server's 5 / 15 / 60 s. A file is
checked when it is read (`Duration`); it is resolved to seconds once the target's timing is
known (`resolve`), when the plan is made.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

from harness.errors import ConfigurationError
from harness.target import Timing

_TERM = re.compile(r"(?P<number>\d+(?:\.\d+)?)?\s*(?P<unit>ms|s|heartbeats?|silence|cap)?")
_SYMBOLS = {"heartbeat": "heartbeat", "heartbeats": "heartbeat", "silence": "silence", "cap": "cap"}


def _terms(expression: str) -> list[tuple[int, float, str]]:
    """Split `a + b - c` into (sign, number, unit) terms; raise ValueError when malformed."""
    if not expression.strip():
        raise ValueError("a duration must not be empty")
    pieces = re.split(r"\s*([+-])\s*", expression.strip())
    signs, texts = ["+", *pieces[1::2]], pieces[0::2]
    if texts[0] == "" and len(texts) > 1:  # a sign before the first term
        signs, texts = signs[1:], texts[1:]
    terms = []
    for sign, text in zip(signs, texts, strict=True):
        match = _TERM.fullmatch(text)
        if not text or match is None or not (match["number"] or match["unit"]):
            raise ValueError(f"cannot read duration {expression!r}: bad term {text!r}")
        if match["number"] and match["unit"] in ("silence", "cap"):
            raise ValueError(f"cannot read duration {expression!r}: write '{match['unit']}' without a count")
        number = float(match["number"]) if match["number"] else 1.0
        terms.append((-1 if sign == "-" else 1, number, match["unit"] or "s"))
    return terms


def _check_duration(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text such as '2 heartbeats'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return f"{value}s"
    if not isinstance(value, str):
        raise ValueError("a duration is a number of seconds or a text such as '2 heartbeats'")
    _terms(value)
    return value


Duration = Annotated[str, BeforeValidator(_check_duration)]


def resolve(expression: str, timing: Timing) -> float:
    """Seconds for a duration expression, given the target's timing."""
    total = 0.0
    for sign, number, unit in _terms(expression):
        if unit in ("s", "ms"):
            seconds = number / 1000 if unit == "ms" else number
        else:
            symbol = _SYMBOLS[unit]
            base = getattr(timing, symbol)
            if base is None:
                raise ConfigurationError(
                    f"duration {expression!r} needs the target's {symbol} value, which it does not advertise "
                    "(declare it in a target profile)"
                )
            seconds = number * base
        total += sign * seconds
    if total < 0:
        raise ConfigurationError(f"duration {expression!r} is negative for this target ({total:g} s)")
    return total
