"""Reset: the connection is reset (TCP RST) `timeout` ms after the next chunk."""

from __future__ import annotations

from harness.faults.base import NonNegativeInt, Toxic


class ResetPeer(Toxic):
    kind = "reset_peer"
    timeout: NonNegativeInt = 0
