"""A user's own deployment, driven by the shell commands of a deployment file: each run under a
deadline, its output recorded; a command that fails or overruns is an error naming its exit and
its last line of output, for the fault and for the scenario it is in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.deploy.base import DeploymentError
from harness.deploy.commands import CommandDeployment, DeploymentFile, load_deployment_file
from harness.embedded import EmbeddedServer
from harness.errors import ConfigurationError
from harness.profile import DEFAULT_PROFILE
from harness.scenario import Scenario
from harness.session import SessionSettings, session
from tests.helpers.processes import alive
from tests.helpers.toxiproxy import require_toxiproxy


def deployment(**commands: str | float) -> CommandDeployment:
    return CommandDeployment(DeploymentFile.model_validate({"instances": ["api-1", "api-2"], **commands}))


async def act(target: CommandDeployment, action: str = "kill", instance: str = "api-2") -> list[str]:
    said: list[str] = []
    await target.act(action, instance, said.append)  # type: ignore[arg-type]
    return said


@pytest.mark.asyncio
async def test_a_command_runs_with_the_instance_shell_quoted_and_its_output_recorded() -> None:
    said = await act(deployment(kill="echo killing {instance}; echo done >&2"))
    assert said == ["echo killing api-2; echo done >&2: exited 0\nkilling api-2\ndone"]


@pytest.mark.asyncio
async def test_a_command_that_fails_names_its_exit_and_its_last_line() -> None:
    said: list[str] = []
    with pytest.raises(DeploymentError) as failed:
        await deployment(kill="echo first; echo 'no such container'; exit 3").act("kill", "api-1", said.append)
    assert str(failed.value) == (
        "deployment command 'echo first; echo 'no such container'; exit 3' exited 3;"
        " last output line: no such container"
    )
    assert said == ["echo first; echo 'no such container'; exit 3: exited 3\nfirst\nno such container"]


@pytest.mark.asyncio
async def test_a_command_that_overruns_its_deadline_is_killed_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper"
    slow = deployment(timeout=0.5, pause=f"echo stopping; sleep 30 & echo $! > {pid_file}; wait")
    started = asyncio.get_running_loop().time()
    with pytest.raises(DeploymentError) as overran:
        await act(slow, "pause")
    assert asyncio.get_running_loop().time() - started < 5
    assert str(overran.value).endswith("timed out after 0.5 s; last output line: stopping")
    sleeper = int(pid_file.read_text())
    async with asyncio.timeout(2):  # its whole process group was killed (a signal lands soon, not at once)
        while alive(sleeper):
            await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_the_store_the_file_names_is_an_instance_of_its_own() -> None:
    said = await act(deployment(store="redis-1", pause="echo freezing {instance}"), "pause", "redis-1")
    assert said == ["echo freezing redis-1: exited 0\nfreezing redis-1"]


@pytest.mark.asyncio
async def test_an_action_without_a_command_or_an_instance_not_listed_is_refused() -> None:
    with pytest.raises(DeploymentError, match=r"^the deployment file gives no command to resume an instance$"):
        await act(deployment(kill="true"), "resume")
    with pytest.raises(DeploymentError, match=r"^no instance 'api-9; rm -rf x' in the deployment file$"):
        await act(deployment(kill="true"), "kill", "api-9; rm -rf x")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('instances = ["a b"]', "instances.0: String should match pattern"),
        ("instances = []", "instances: Tuple should have at least 1 item"),
        ('instances = ["a"]\ntimeout = 0', "timeout: Input should be greater than 0"),
        ('instances = ["a"]\nreboot = "x"', "reboot: Extra inputs are not permitted"),
    ],
)
def test_a_bad_deployment_file_is_one_line_naming_the_field(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "deployment.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as bad:
        load_deployment_file(path)
    assert str(bad.value).startswith(f"{path}: {problem}")
    assert "\n" not in str(bad.value)


def test_a_deployment_file_without_a_target_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--deployment", str(tmp_path / "d.toml")], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert result.output.strip() == "error: --deployment describes the deployment behind your --target: give both"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("echo 'Error: no such container'; exit 3", "exited 3; last output line: Error: no such container"),
        ("echo waiting; sleep 20", "timed out after 0.5 s; last output line: waiting"),
    ],
)
async def test_a_failing_command_makes_the_scenario_an_error_naming_its_exit_and_last_line(
    server: EmbeddedServer, tmp_path: Path, command: str, error: str
) -> None:
    require_toxiproxy()
    commands = DeploymentFile(instances=("api-1",), timeout=0.5, kill=command)
    settings = SessionSettings(server.stream_url, DEFAULT_PROFILE, {}, "fast", tmp_path, deployment_file=commands)
    scenario = Scenario.model_validate({
        "name": "kill-mine",
        "description": "a kill through the user's own command",
        "clients": {"count": 1, "max_tokens": 300, "deadline": "3s"},  # streams past the command's deadline
        "faults": [{"at": "0.2s", "action": "kill", "attributes": {"instance": "any"}}],
    })  # fmt: skip
    async with session(settings) as runner:
        run = await runner.run(scenario)
    assert run.error is not None
    assert run.error.startswith(f"deployment command '{command}' {error}")
