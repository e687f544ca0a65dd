"""The catalogue as the CLI lists it."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from harness.cli import app
from harness.scenario import catalogue


def test_list_shows_every_scenario_and_which_use_a_browser() -> None:
    result = CliRunner().invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for path in catalogue():
        assert path.stem in result.stdout
    assert result.stdout.count("2 browser │") == 2  # the clients column


def test_the_offline_commands_load_neither_the_runner_nor_the_browser() -> None:
    """`sse-chaos report`, `list`, `compare` and the report's writers stay light: no Playwright."""
    modules = ("harness.cli", "harness.report", "harness.report.junit", "harness.schedule", "harness.compare")
    heavy = ("playwright", "harness.runner", "harness.browser", "harness.session")
    code = f"import sys, {', '.join(modules)}; print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_an_error_naming_what_the_user_typed_is_one_line_never_read_as_markup() -> None:
    result = CliRunner().invoke(app, ["run", "--scenario", "[/]nope[bold]"], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert "error: no scenario '[/]nope[bold]' (catalogue: " in result.output
