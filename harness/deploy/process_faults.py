"""The base of the process fault kinds (harness/faults/kill.py, pause.py...): an action on the
deployment's instances, the instance chosen as the scenario says (the one serving a client, any
one, each in turn, or the replay store they share), undone on the same ones.

A process fault is an outage for the clients it touches: like `down`, its span cannot be judged for
heartbeat timing (the default slack). It is recorded as started before it acts."""

from __future__ import annotations

from typing import ClassVar, Literal

from harness.deploy.base import Action, Deployment, DeploymentError
from harness.faults.base import Fault, NonNegativeInt, Stage
from harness.untrusted import printable

_INSTANCE_HEADER = "x-instance-id"


class ProcessFault(Fault):
    instance: Literal["serving", "any", "all", "store"] = "serving"
    client: NonNegativeInt = 0  # with "serving": the client (its number) whose instance it is
    acts_while_applied: ClassVar[bool] = True
    behind_the_proxy: ClassVar[bool] = True
    action: ClassVar[Action]
    undo_action: ClassVar[Action | None] = None  # None: nothing to undo

    async def apply(self, stage: Stage, name: str) -> None:
        deployment = _deployment_of(stage, self.kind)
        chosen = self._choose(stage, deployment)
        stage.chosen[name] = chosen
        for instance in chosen:
            await deployment.act(self.action, instance, lambda said: stage.log(name, said))

    async def undo(self, stage: Stage, name: str) -> None:
        if self.undo_action is None or stage.deployment is None:
            return
        for instance in stage.chosen.get(name, ()):
            await stage.deployment.act(self.undo_action, instance, lambda said: stage.log(name, said))

    def describe(self) -> str:
        which = {
            "serving": f"the instance serving client {self.client}",
            "any": "one instance",
            "all": "every instance in turn",
            "store": "the shared replay store",
        }[self.instance]
        return f"{self.kind} {which}"

    def _choose(self, stage: Stage, deployment: Deployment) -> tuple[str, ...]:
        if self.instance == "all":
            return deployment.instances
        if self.instance == "any":
            return deployment.instances[:1]
        if self.instance == "store":
            if deployment.store is None:
                raise DeploymentError(
                    f"the fault {self.kind!r} acts on the shared replay store, and this deployment has none"
                )
            return (deployment.store,)
        return (serving_instance(stage, self.client, deployment),)


def serving_instance(stage: Stage, client: int, deployment: Deployment) -> str:
    """The instance named by the client's latest successful response (its `X-Instance-ID`)."""
    headers = stage.history.latest_response_headers((f"c{client:04d}", f"b{client:04d}"))
    named = headers.get(_INSTANCE_HEADER)
    if named is None:
        raise DeploymentError(f"no response to client {client} yet names its instance (X-Instance-ID)")
    if named not in deployment.instances:
        raise DeploymentError(
            f"client {client} is served by instance '{printable(named, 64)}', which the deployment does not"
            f" list (instances: {', '.join(deployment.instances)})"
        )
    return named


def _deployment_of(stage: Stage, kind: str) -> Deployment:
    if stage.deployment is None:
        raise DeploymentError(
            f"the fault {kind!r} acts on processes, and this run knows no deployment: run it on the embedded"
            " server or deployment, or give --deployment FILE with the commands for your own"
        )
    return stage.deployment
