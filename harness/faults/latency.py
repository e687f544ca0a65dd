"""Latency: each chunk is delayed by `latency` ms, give or take `jitter` ms."""

from __future__ import annotations

from harness.faults.base import NonNegativeInt, Slack, Toxic


class Latency(Toxic):
    kind = "latency"
    latency: NonNegativeInt = 0
    jitter: NonNegativeInt = 0

    def slack(self) -> Slack:
        """A constant delay leaves heartbeat intervals alone; jitter moves both ends of one,
        so an interval may stray by twice the jitter. Bytes arrive up to latency + jitter late."""
        return Slack(heartbeat_s=2 * self.jitter / 1000, delay_s=(self.latency + self.jitter) / 1000)
