"""Restart: an instance stops gracefully (SIGTERM, its drain), starts again, and is waited for
until healthy; the fault lasts as long as that takes."""

from __future__ import annotations

from harness.deploy.process_faults import ProcessFault


class Restart(ProcessFault):
    kind = "restart"
    action = "restart"
    ends_with_apply = True
