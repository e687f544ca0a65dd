"""The duration grammar of scenario files, and its resolution against a target's timing."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from harness.durations import Duration, resolve
from harness.errors import ConfigurationError
from harness.target import Timing

TIMING = Timing(heartbeat=0.25, silence=1.0, cap=6.0)


class Holder(BaseModel):
    duration: Duration


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        (1.5, 1.5),
        (0, 0.0),
        ("250ms", 0.25),
        ("2s", 2.0),
        ("2", 2.0),
        ("1 heartbeat", 0.25),
        ("3 heartbeats", 0.75),
        ("2.5heartbeats", 0.625),
        ("silence", 1.0),
        ("silence + 0.5s", 1.5),
        ("cap - 1s", 5.0),
        ("cap + 10s", 16.0),
        ("cap - 2 heartbeats + 100ms", 5.6),
        (" silence+250ms ", 1.25),
        ("- 1s + cap", 5.0),
    ],
)
def test_durations_resolve_to_seconds(written: Any, seconds: float) -> None:
    assert resolve(Holder(duration=written).duration, TIMING) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("", "must not be empty"),
        ("soon", "bad term 'soon'"),
        ("2 minutes", "bad term"),
        ("2 silence", "write 'silence' without a count"),
        ("3 cap", "write 'cap' without a count"),
        ("1s +", "bad term ''"),
        ("+", "bad term ''"),
        ("1s + + 2s", "bad term ''"),
        ("1s 2s", "bad term '1s 2s'"),
        (-1, "must not be negative"),
        (True, "a number of seconds"),
        ([1], "a number of seconds"),
    ],
)
def test_malformed_durations_are_refused_when_read(written: Any, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Holder(duration=written)


def test_a_duration_needing_a_timing_the_target_does_not_advertise_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="needs the target's cap value"):
        resolve("cap - 1s", Timing(heartbeat=0.25, silence=1.0, cap=None))


def test_a_duration_negative_for_this_target_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"is negative for this target \(-1 s\)"):
        resolve("silence - 2s", TIMING)
