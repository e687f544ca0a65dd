"""Rolling restart: every instance restarted in turn, each healthy again before the next."""

from __future__ import annotations

from typing import Literal

from harness.faults.restart import Restart


class RollingRestart(Restart):
    kind = "rolling-restart"
    instance: Literal["all"] = "all"
