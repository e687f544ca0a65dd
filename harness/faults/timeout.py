"""Timeout (a blackhole): all data is dropped; with `timeout` > 0 the connection closes after that
many ms of it. Removing the toxic closes the connection."""

from __future__ import annotations

from harness.faults.base import NonNegativeInt, Toxic


class Timeout(Toxic):
    kind = "timeout"
    timeout: NonNegativeInt = 0
