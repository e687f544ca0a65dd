"""Pause: SIGSTOP freezes an instance, its connections open and silent; undone by SIGCONT."""

from __future__ import annotations

from harness.deploy.process_faults import ProcessFault


class Pause(ProcessFault):
    kind = "pause"
    action = "pause"
    undo_action = "resume"
