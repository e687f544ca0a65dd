"""The catalogue as the CLI lists it."""

from __future__ import annotations

from typer.testing import CliRunner

from harness.cli import app
from harness.scenario import catalogue


def test_list_shows_every_scenario_and_which_use_a_browser() -> None:
    result = CliRunner().invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for path in catalogue():
        assert path.stem in result.stdout
    assert result.stdout.count("2 browser │") == 2  # the clients column
