"""Bandwidth: the link carries `rate` KB/s; 0 holds every byte back without losing it."""

from __future__ import annotations

from harness.faults.base import NonNegativeInt, Toxic


class Bandwidth(Toxic):
    kind = "bandwidth"
    rate: NonNegativeInt
