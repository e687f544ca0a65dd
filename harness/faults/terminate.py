"""Terminate: SIGTERM to an instance, which drains its streams and exits; undone by starting it again."""

from __future__ import annotations

from harness.deploy.process_faults import ProcessFault


class Terminate(ProcessFault):
    kind = "terminate"
    action = "terminate"
    undo_action = "start"
