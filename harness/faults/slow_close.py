"""Slow close: a close is passed on `delay` ms late."""

from __future__ import annotations

from harness.faults.base import NonNegativeInt, Toxic


class SlowClose(Toxic):
    kind = "slow_close"
    delay: NonNegativeInt
