"""What a process fault acts on: a deployment of named instances, and the one action vocabulary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from harness.errors import EnvironmentProblem

# `start` brings back a killed or terminated instance; `restart` stops one gracefully (SIGTERM,
# the server's drain), starts it again and waits for it to be healthy.
Action = Literal["kill", "terminate", "pause", "resume", "start", "restart"]
Log = Callable[[str], None]  # where a deployment says what it did (the history's nemesis record)


class DeploymentError(EnvironmentProblem):
    """A deployment could not do what a fault asked: the scenario is an error naming why."""


class Deployment(Protocol):
    @property
    def instances(self) -> tuple[str, ...]:
        """The instance ids, as each instance's `X-Instance-ID` header names it."""
        ...

    @property
    def store(self) -> str | None:
        """The id of the replay store the instances share (Redis), when faults may act on it."""
        ...

    async def act(self, action: Action, instance: str, log: Log) -> None:
        """Do `action` to `instance` (or the store); DeploymentError when it cannot."""
        ...
