"""Kill: SIGKILL to an instance, no drain; undone by starting it again."""

from __future__ import annotations

from harness.deploy.process_faults import ProcessFault


class Kill(ProcessFault):
    kind = "kill"
    action = "kill"
    undo_action = "start"
