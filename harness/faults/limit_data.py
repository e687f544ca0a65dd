"""Limit data: the connection is closed after exactly `bytes` bytes."""

from __future__ import annotations

from harness.faults.base import NonNegativeInt, Toxic


class LimitData(Toxic):
    kind = "limit_data"
    bytes: NonNegativeInt
