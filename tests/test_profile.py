"""Target profiles: the shipped ones, profiles that extend, `-P` overrides, and the one-line
errors naming the file and key; request shapes and the requests they resolve to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import ConfigurationError
from harness.profile import DEFAULT_PROFILE, PROFILES_DIR, load_profile
from harness.request import RequestOverride, RequestShape, resolve_request

SHIPPED = ["openai-chat", "anthropic-messages", "comment-heartbeats", "live-feed"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_by_name_and_validates_on_the_command_line(name: str) -> None:
    assert load_profile(name).name == name
    result = CliRunner().invoke(app, ["validate", str(PROFILES_DIR / f"{name}.toml")])
    assert result.exit_code == 0, result.output


def test_the_shipped_profiles_are_all_there_is() -> None:
    assert sorted(path.stem for path in PROFILES_DIR.glob("*.toml")) == sorted(SHIPPED)


def test_the_default_is_the_reference_contract() -> None:
    assert load_profile(None) == DEFAULT_PROFILE
    assert (DEFAULT_PROFILE.request.method, DEFAULT_PROFILE.request.params) == (
        "GET",
        {"query": "{query}", "max_tokens": "{max_tokens}"},
    )


def test_a_profile_extends_a_shipped_one_and_overrides_fields_and_body_keys(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('extends = "openai-chat"\nname = "mine"\nsilence_threshold = 5\n[request.body]\nmodel = "m-1"\n')
    profile = load_profile(str(mine))
    shipped = load_profile("openai-chat")
    assert (profile.name, profile.silence_threshold, profile.terminal_data) == ("mine", 5.0, "[DONE]")
    assert profile.request.body == shipped.request.body | {"model": "m-1"}


def test_extends_chains_through_files_relative_to_the_extending_one(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text('extends = "anthropic-messages"\ndeterministic = true\n')
    (tmp_path / "top.toml").write_text('extends = "base.toml"\nstream_max_seconds = 9\n')
    profile = load_profile(str(tmp_path / "top.toml"))
    assert (profile.name, profile.deterministic, profile.stream_max_seconds) == ("anthropic-messages", True, 9.0)


def test_an_extends_cycle_is_one_line_naming_the_chain(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(
        ConfigurationError, match=r"b\.toml: extends 'a\.toml' makes a cycle: a\.toml -> b\.toml -> a\.toml"
    ):
        load_profile(str(tmp_path / "a.toml"))


def test_extending_a_missing_profile_names_it(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "no-such-dialect"\n')
    with pytest.raises(ConfigurationError, match=r"no-such-dialect\.toml: no such profile file"):
        load_profile(str(tmp_path / "a.toml"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('colour = "red"\n', "colour: Extra inputs are not permitted"),
        ('silence_threshold = "soon"\n', "silence_threshold: Input should be a valid number"),
        ('answer = "choices/0"\n', "answer: Value error, not a JSON pointer"),
        ('[request]\nmethod = "PUT"\n', "request.method: Input should be 'GET' or 'POST'"),
        ("[request.body]\nstream = true\n", 'request: Value error, a body needs method = "POST"'),
        (
            '[request]\nmethod = "POST"\n[request.body]\nwhen = 2026-12-02\n',
            "request: Value error, the body is not valid JSON after substitution",
        ),
        ('[request]\nmethod = "POST"\n[request.body]\nx = nan\n', "the body is not valid JSON after substitution"),
        ('[request.headers]\nLast-Event-ID = "1"\n', "header Last-Event-ID: the harness sets this one itself"),
        ('[request.headers]\nX-Trace-ID = "t"\n', "X-Trace-ID is the trace header, which the clients set"),
    ],
)
def test_a_bad_profile_field_is_one_line_naming_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ConfigurationError) as refused:
        load_profile(str(bad))
    assert str(refused.value).startswith(f"{bad}: ")
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_command_line_fields_override_the_profile_with_toml_values_or_text() -> None:
    profile = load_profile(
        "openai-chat",
        ["silence_threshold=2", "deterministic=true", "request.body.model=gpt-x", 'terminal_events=["end"]'],
    )
    assert (profile.silence_threshold, profile.deterministic, profile.terminal_events) == (2.0, True, ("end",))
    assert profile.request.body is not None
    assert profile.request.body["model"] == "gpt-x"
    assert load_profile(None, ["trace_header="]).trace_header is None  # an empty value: none


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["colour=red"], f"-P over {PROFILES_DIR / 'openai-chat.toml'}: colour: Extra inputs are not permitted"),
        (["silence_threshold=-1"], "silence_threshold: Input should be greater than 0"),
        (["request.bodyy.model=x"], "request.bodyy: Extra inputs are not permitted"),
        (["request.headers.Host=s3cret"], "header Host: the harness sets this one itself"),
        (["s3cret"], "-P #1 is not KEY=VALUE"),
        (["ok=1", "=s3cret"], "-P #2 is not KEY=VALUE"),
    ],
)
def test_a_bad_override_is_one_line_naming_the_key_and_never_a_value(fields: list[str], message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_profile(
            "openai-chat" if not fields[0].startswith("colour") else str(PROFILES_DIR / "openai-chat.toml"), fields
        )
    assert message in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_a_bad_override_on_the_command_line_exits_2_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", "--profile", "openai-chat", "-P", "colour=red", "--report-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "colour: Extra inputs are not permitted" in result.output


def test_a_request_resolves_its_placeholders_in_params_and_body() -> None:
    shape = load_profile("openai-chat").request
    request = resolve_request(shape, "http://h:1/v1/chat/completions", 'say "{max_tokens}" ✓', 7, {"k": "v"})
    assert (request.method, request.url, request.params) == ("POST", "http://h:1/v1/chat/completions", {"k": "v"})
    assert request.body is not None
    body = json.loads(request.body)
    assert body["max_tokens"] == 7  # exactly "{max_tokens}": the number
    assert body["messages"] == [{"role": "user", "content": 'say "{max_tokens}" ✓'}]  # the query is not re-read
    get = resolve_request(RequestShape(params={"q": "{query} in {max_tokens}"}), "http://h/s", "x", 3)
    assert (get.params, get.body, get.content()) == ({"q": "x in 3"}, None, None)


def test_a_shape_s_path_replaces_the_target_s() -> None:
    request = resolve_request(RequestShape(path="/v2/stream"), "https://h:8443/v1/old?keep=1", "q", 1)
    assert request.url == "https://h:8443/v2/stream?keep=1"


def test_a_scenario_s_request_overrides_the_profile_s_key_by_key() -> None:
    shape = load_profile("openai-chat").request
    over = RequestOverride(body={"model": "other", "temperature": 1}, params={"api-version": "2"})
    merged = over.over(shape, "s")
    assert merged.body is not None
    assert shape.body is not None
    assert merged.body == shape.body | {"model": "other", "temperature": 1}
    assert (merged.method, merged.params) == ("POST", {"api-version": "2"})
    with pytest.raises(
        ConfigurationError, match=r'scenario s: request: \(top level\): Value error, a body needs method = "POST"'
    ):
        RequestOverride(method="GET").over(shape, "s")


def test_a_profile_file_anywhere_validates_as_a_profile_with_its_errors_in_one_line(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text('extends = "openai-chat"\ndeterministic = true\n')
    assert CliRunner().invoke(app, ["validate", str(mine)]).exit_code == 0
    mine.write_text('extends = "openai-chat"\nsilence_threshold = 0\n')
    result = CliRunner().invoke(app, ["validate", str(mine)])
    assert result.exit_code == 2
    assert "silence_threshold: Input should be greater than 0" in result.output
