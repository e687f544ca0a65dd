"""A user's own deployment, driven by shell commands from a deployment file, the way Jepsen's
nemeses are: one command per action, `{instance}` replaced by the instance's id (shell-quoted),
each run under a deadline with its output recorded in the history. A command that fails or
overruns its deadline is a DeploymentError naming its exit and its last line of output.

    instances = ["api-1", "api-2", "api-3"]
    store = "redis-1"
    timeout = 30
    kill = "docker kill {instance}"
    restart = "docker restart {instance} && scripts/wait-healthy {instance}"
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from harness.deploy.base import Action, DeploymentError, Log
from harness.errors import load_toml_model
from harness.untrusted import printable

InstanceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Command = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
_OUTPUT_KEPT_BYTES = 64 * 1024  # a command's output, its tail, kept for the history
_OUTPUT_SAID_LINES = 5


class DeploymentFile(BaseModel):
    """Every field but `instances` optional: a fault whose action has no command is an error when it acts.
    `restart` must return once the instance serves again (a rolling restart waits on it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instances: Annotated[tuple[InstanceId, ...], Field(min_length=1, max_length=256)]
    store: InstanceId | None = None  # the shared replay store's id, for a fault's `instance = "store"`
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    kill: Command | None = None
    terminate: Command | None = None
    pause: Command | None = None
    resume: Command | None = None
    start: Command | None = None
    restart: Command | None = None


def load_deployment_file(path: Path) -> DeploymentFile:
    return load_toml_model(path, DeploymentFile, "deployment")


class CommandDeployment:
    def __init__(self, spec: DeploymentFile) -> None:
        self.spec = spec

    @property
    def instances(self) -> tuple[str, ...]:
        return self.spec.instances

    @property
    def store(self) -> str | None:
        return self.spec.store

    async def act(self, action: Action, instance: str, log: Log) -> None:
        template = getattr(self.spec, action)
        if template is None:
            raise DeploymentError(f"the deployment file gives no command to {action} an instance")
        if instance not in (*self.spec.instances, self.spec.store):
            raise DeploymentError(f"no instance '{printable(instance, 64)}' in the deployment file")
        command = template.replace("{instance}", shlex.quote(instance))
        exit_code, output = await run_command(command, self.spec.timeout)
        tail = output.strip().splitlines()[-_OUTPUT_SAID_LINES:]
        outcome = f"exited {exit_code}" if exit_code is not None else f"timed out after {self.spec.timeout:g} s"
        log("\n".join(printable(line, 300) for line in [f"{command}: {outcome}", *tail]))
        if exit_code != 0:
            last = printable(tail[-1], 200) if tail else "(none)"
            raise DeploymentError(f"deployment command '{printable(command, 200)}' {outcome}; last output line: {last}")


async def run_command(command: str, deadline_seconds: float) -> tuple[int | None, str]:
    """Run `command` in a shell of its own process group: its exit status (None: it overran its
    deadline, and the whole group was killed) and the tail of its output (stdout and stderr)."""
    process = await asyncio.create_subprocess_shell(
        command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True
    )
    assert process.stdout is not None
    kept = bytearray()

    async def read_all() -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            kept.extend(chunk)
            del kept[:-_OUTPUT_KEPT_BYTES]
        await process.wait()

    try:
        await asyncio.wait_for(read_all(), deadline_seconds)
        exit_code: int | None = process.returncode
    except TimeoutError:
        exit_code = None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    return exit_code, kept.decode(errors="replace")
