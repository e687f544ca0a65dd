"""Resume: SIGCONT wakes a paused instance (one a `pause` without `for` left frozen)."""

from __future__ import annotations

from harness.deploy.process_faults import ProcessFault


class Resume(ProcessFault):
    kind = "resume"
    action = "resume"
    ends_with_apply = True
