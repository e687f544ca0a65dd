"""Scenario files: what a bad one is told, in one line naming the file and the key; the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.checks import CHECKS
from harness.errors import ConfigurationError
from harness.scenario import Scenario, catalogue, load_scenario


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\ndescription = "d"\n' + text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[expect]\nchecks = ["no_loss", "speed"]',
            "expect.checks: Value error, unknown check 'speed' (known: headers,",
        ),
        ('[[faults]]\nat = 0\naction = "earthquake"', "unknown action 'earthquake' (known: bandwidth, down,"),
        ('[[faults]]\nat = 0\naction = "down"\nattributes = { latency = 1 }', "action 'down': latency: Extra inputs"),
        ('[[faults]]\nat = 0\naction = "down"\nstream = "upstream"', "action 'down': stream: Extra inputs"),
        ('[[faults]]\nat = 0\naction = "latency"\ntoxicity = 1.5', "toxicity: Input should be less than or equal"),
        ('[[faults]]\nat = 0\naction = "bandwidth"', "action 'bandwidth': rate: Field required"),
        ('[[faults]]\nat = "soon"\naction = "down"', "faults.0.at: Value error, cannot read duration 'soon'"),
        (
            '[[faults]]\nat = 0\naction = "limit_data"\nsweep = { attribute = "bytes", start = 5, stop = 5 }',
            "a sweep's stop must be above its start",
        ),
        ('[clients]\nkind = "browser"\ncount = 9', "browser clients: at most 8, and no sweep"),
        ("[clients]\ncolour = 1", "clients.colour: Extra inputs are not permitted"),
    ],
)
def test_a_bad_scenario_is_one_line_naming_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_scenario(write(tmp_path, text))
    assert str(raised.value).startswith(f"{tmp_path / 'bad.toml'}: ")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_two_sweeps_are_refused(tmp_path: Path) -> None:
    fault = '[[faults]]\nat = 0\naction = "limit_data"\nsweep = { attribute = "bytes", start = 0, stop = 5 }\n'
    with pytest.raises(ConfigurationError, match="at most one fault may sweep"):
        load_scenario(write(tmp_path, fault + fault))


def test_checks_default_to_every_check_of_the_registry() -> None:
    assert Scenario.model_validate({"name": "s", "description": "d"}).expect.checks == tuple(CHECKS)


def test_the_schema_lists_the_registry_s_check_names_and_the_fault_alias() -> None:
    schema: dict[str, Any] = Scenario.model_json_schema(by_alias=True)
    text = json.dumps(schema)
    assert json.dumps({"enum": list(CHECKS)}) in text
    assert '"for"' in text


def test_every_catalogue_scenario_is_valid() -> None:
    assert len(catalogue()) >= 17
    for path in catalogue():
        assert load_scenario(path).name == path.stem
