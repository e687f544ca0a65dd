"""A scenario's `[deployment]`: what the harness runs behind the target for it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_INSTANCES = 8


class DeploymentSpec(BaseModel):
    """A scenario's `[deployment]`: what the harness runs for it when the run has no target of its
    own. `balancer`: "haproxy" round-robins the instances; "nginx-buffering" puts nginx with
    `proxy_buffering on` in front of one instance; "none" is one instance on its own. `store`: the
    instances' replay store: each its own memory, or one Redis they share (a stream survives the
    loss of the instance serving it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instances: Annotated[int, Field(ge=1, le=MAX_INSTANCES)] = 3
    balancer: Literal["haproxy", "nginx-buffering", "none"] = "haproxy"
    store: Literal["memory", "redis"] = "memory"

    @model_validator(mode="after")
    def _one_instance_without_a_balancer(self) -> DeploymentSpec:
        if self.balancer != "haproxy" and self.instances != 1:
            raise ValueError(f"balancer {self.balancer!r} stands in front of one instance, not {self.instances}")
        return self


SINGLE_SERVER = DeploymentSpec(instances=1, balancer="none")
