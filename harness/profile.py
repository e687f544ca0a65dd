"""Target profiles: how to speak to a server and read its stream, the reference contract being
the default. A profile file may extend another (`extends`, a shipped name or a path, chains
allowed) and override its fields; the command line overrides single fields (`-P KEY=VALUE`).
Every field is documented in the README ("Writing a target profile")."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from jsonpointer import JsonPointer, JsonPointerException
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from harness.catalogue import PROFILES_DIR
from harness.errors import ConfigurationError, describe_validation_error, read_toml
from harness.request import RequestShape, merged_tables


def _pointer(text: str) -> str:
    try:
        JsonPointer(text)
    except JsonPointerException as error:
        raise ValueError(f"not a JSON pointer (RFC 6901): {error}") from None
    return text


def _optional_pointer(text: str | None) -> str | None:
    return None if text is None else _pointer(text)


def _none_if_empty(value: object) -> object:
    return None if value == "" else value


# TOML has no null: an empty string says "none" for the fields that may be absent.
OptionalName = Annotated[str | None, BeforeValidator(_none_if_empty)]
Pointer = Annotated[str, AfterValidator(_pointer)]
OptionalPointer = Annotated[str | None, BeforeValidator(_none_if_empty), AfterValidator(_optional_pointer)]


class TargetProfile(BaseModel):
    """What a target speaks. A check the target cannot support is reported not applicable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "robust-stream"
    description: str = "The robust stream of docs/protocol.md (the reference server)."
    request: RequestShape = RequestShape()
    heartbeat: Literal["event", "comment", "none"] = "event"
    heartbeat_event: str = "heartbeat"
    content_event: str = "content_chunk"
    terminal_events: tuple[str, ...] = ("complete",)
    terminal_data: OptionalName = Field(None, description="an event with this data ends the stream: [DONE]")
    ends_on_close: bool = Field(False, description="the body's end is a clean end (a server that just closes)")
    endless: bool = Field(False, description="a live feed: a stream never ends; a client watches it to its deadline")
    error_event: OptionalName = "error"
    error_pointer: OptionalPointer = Field(
        None, description="an event whose data's JSON has a value here is the server's error: /error"
    )
    payload: Literal["protocol", "json", "opaque"] = Field(
        "protocol",
        description="'protocol': docs/protocol.md's JSON (seq, trace_id, content_sha256); 'json': other JSON",
    )
    answer: Pointer = Field("/content", description="where the answer's text is in a content event's JSON")
    deterministic: bool = Field(True, description="a fixed request is answered the same way every time")
    resume: bool = True
    trace_header: OptionalName = "X-Trace-ID"
    interval_header: OptionalName = "X-Heartbeat-Interval"
    silence_header: OptionalName = "X-Silence-Threshold"
    cap_header: OptionalName = "X-Stream-Max-Seconds"
    required_headers: tuple[str, ...] = (
        "Cache-Control",
        "X-Accel-Buffering",
        "X-Trace-ID",
        "X-Stream-ID",
        "X-Stream-Max-Seconds",
        "X-Heartbeat-Interval",
        "X-Silence-Threshold",
    )
    heartbeat_interval: float | None = Field(None, gt=0, description="declared when no header advertises it")
    silence_threshold: float | None = Field(None, gt=0)
    stream_max_seconds: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _trace_header_is_the_client_s(self) -> TargetProfile:
        trace = (self.trace_header or "").lower()
        if trace and trace in {name.lower() for name in self.request.headers}:
            raise ValueError(f"request.headers: {self.trace_header} is the trace header, which the clients set")
        return self

    @property
    def has_answer(self) -> bool:
        """Whether content events carry answer text the harness can re-assemble."""
        return self.payload != "opaque"


DEFAULT_PROFILE = TargetProfile()
_SHARED_WITH_SCENARIOS = {"name", "description", "request"}


def load_profile(name_or_path: str | None, overrides: Sequence[str] = ()) -> TargetProfile:
    """A shipped profile by name, or a profile file (with what it extends), then the command
    line's `KEY=VALUE` overrides; ConfigurationError naming the file and key when one is wrong."""
    if name_or_path is None or name_or_path == DEFAULT_PROFILE.name:
        source, raw = DEFAULT_PROFILE.name, {}
    else:
        path = _located(name_or_path, Path.cwd())
        source, raw = str(path), _extended(path, ())
    profile = _validated(raw, source)
    if not overrides:
        return profile
    return _validated(merged_tables(raw, _overrides(overrides)), f"-P over {source}")


def is_profile_file(path: Path) -> bool:
    """Whether a TOML file is a profile rather than a scenario: it has a field only profiles have."""
    try:
        fields = set(tomllib.loads(path.read_text()))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False  # read again as a scenario, which says what is wrong with it
    return bool(fields & (set(TargetProfile.model_fields) | {"extends"}) - _SHARED_WITH_SCENARIOS)


def _located(name_or_path: str, directory: Path) -> Path:
    """A name without a suffix is a shipped profile; anything else a file, relative to `directory`."""
    path = Path(name_or_path)
    if not path.suffix:
        return PROFILES_DIR / f"{name_or_path}.toml"
    return path if path.is_absolute() else directory / path


def _extended(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The file's fields over those of the profiles it extends."""
    raw = read_toml(path, "profile")
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str) or not parent:
        raise ConfigurationError(f"{path}: extends: a shipped profile's name or a profile file")
    if parent == DEFAULT_PROFILE.name:
        return raw
    parent_path = _located(parent, path.parent)
    chain = (*seen, path.resolve())
    if parent_path.resolve() in chain:
        names = " -> ".join(link.name for link in (*chain, parent_path.resolve()))
        raise ConfigurationError(f"{path}: extends {parent[:100]!r} makes a cycle: {names}")
    return merged_tables(_extended(parent_path, chain), raw)


def _validated(raw: dict[str, Any], source: str) -> TargetProfile:
    try:
        return TargetProfile.model_validate(raw)
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(source, error)) from None


def _overrides(assignments: Sequence[str]) -> dict[str, Any]:
    """`KEY=VALUE` assignments as tables: a dotted KEY reaches into a table (`request.body.model`);
    VALUE is read as a TOML value (`2`, `true`, `["done"]`), else taken as text. An error names
    the assignment by number, never its value: it may be a credential."""
    tables: dict[str, Any] = {}
    for number, assignment in enumerate(assignments, start=1):
        key, equals, text = assignment.partition("=")
        keys = key.strip().split(".")
        if not equals or not all(keys):
            raise ConfigurationError(f"-P #{number} is not KEY=VALUE (a dotted KEY reaches into a table)")
        value: Any = _toml_value(text.strip())
        for name in reversed(keys):
            value = {name: value}
        tables = merged_tables(tables, value)
    return tables


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text
