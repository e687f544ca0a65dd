"""Scenario files: a fault timeline, the clients, and what to expect. TOML, validated.

Durations are seconds (`1.5`), with a unit (`"250ms"`, `"2s"`), or relative to what the
target advertises (`"2 heartbeats"`, `"silence + 0.5s"`, `"cap - 1s"`), so one catalogue
runs against sub-second test timings and against a production server's 5 / 15 / 60 s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from harness.errors import ConfigurationError, load_toml_model
from harness.toxiproxy.toxics import TOXIC_TYPES, make_toxic

CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "scenarios"
CheckName = Literal[
    "headers",
    "heartbeat_timing",
    "duration_cap",
    "no_duplicates",
    "no_loss",
    "trace_propagation",
    "completion",
    "reconnect_bounds",
    "page_display",
]
CHECK_NAMES: tuple[CheckName, ...] = get_args(CheckName)

MAX_BROWSER_CLIENTS = 8
_TERM = re.compile(r"(?P<number>\d+(?:\.\d+)?)?\s*(?P<unit>ms|s|heartbeats?|silence|cap)?")
_SYMBOLS = {"heartbeat": "heartbeat", "heartbeats": "heartbeat", "silence": "silence", "cap": "cap"}


@dataclass(frozen=True)
class Timing:
    """What the target advertises (or its profile declares), in seconds."""

    heartbeat: float | None
    silence: float | None
    cap: float | None


def _terms(expression: str) -> list[tuple[int, float, str]]:
    """Split `a + b - c` into (sign, number, unit) terms; raise ValueError when malformed."""
    terms = []
    for sign, text in re.findall(r"([+-]?)\s*([^+-]+)", expression.strip()):
        match = _TERM.fullmatch(text.strip())
        if match is None or not (match["number"] or match["unit"]):
            raise ValueError(f"cannot read duration {expression!r}: bad term {text.strip()!r}")
        if match["number"] and match["unit"] in ("silence", "cap"):
            raise ValueError(f"cannot read duration {expression!r}: write '{match['unit']}' without a count")
        number = float(match["number"]) if match["number"] else 1.0
        terms.append((-1 if sign == "-" else 1, number, match["unit"] or "s"))
    if not terms:
        raise ValueError("a duration must not be empty")
    return terms


def _check_duration(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text such as '2 heartbeats'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return f"{value}s"
    if not isinstance(value, str):
        raise ValueError("a duration is a number of seconds or a text such as '2 heartbeats'")
    _terms(value)
    return value


Duration = Annotated[str, BeforeValidator(_check_duration)]


def resolve(expression: str, timing: Timing) -> float:
    """Seconds for a duration expression, given the target's timing."""
    total = 0.0
    for sign, number, unit in _terms(expression):
        if unit in ("s", "ms"):
            seconds = number / 1000 if unit == "ms" else number
        else:
            symbol = _SYMBOLS[unit]
            base = getattr(timing, symbol)
            if base is None:
                raise ConfigurationError(
                    f"duration {expression!r} needs the target's {symbol} value, which it does not advertise "
                    "(declare it in a target profile)"
                )
            seconds = number * base
        total += sign * seconds
    if total < 0:
        raise ConfigurationError(f"duration {expression!r} is negative for this target ({total:g} s)")
    return total


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Clients(_Strict):
    """`kind`: "http" is the harness's Python client; "browser" is the search page's stream in
    headless Chromium (each one a browser context, so a handful at most)."""

    kind: Literal["http", "browser"] = "http"
    count: Annotated[int, Field(ge=1, le=5000)] = 1
    stagger: Duration = "0s"
    query: Annotated[str, Field(min_length=1, max_length=2000)] = "how do streams survive chaos"
    max_tokens: Annotated[int, Field(ge=1, le=100_000)] = 120
    max_attempts: Annotated[int, Field(ge=1, le=10_000)] = 30
    deadline: Duration = "cap + 10s"
    extra_params: dict[str, str] = Field(default_factory=dict)


class Sweep(_Strict):
    """One client per value `attribute = start + i * step`, each with the fault timeline to
    itself: `lanes` proxies run side by side, each running its clients one after another, with
    the timeline counted from each client's start."""

    attribute: str
    start: Annotated[int, Field(ge=0)]
    stop: Annotated[int, Field(ge=1)]
    step: Annotated[int, Field(ge=1)] = 1
    lanes: Annotated[int, Field(ge=1, le=500)] = 50

    def values(self) -> range:
        return range(self.start, self.stop, self.step)


class Fault(_Strict):
    at: Duration
    duration: Duration | None = Field(None, alias="for")
    action: str
    stream: Literal["downstream", "upstream"] = "downstream"
    toxicity: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    attributes: dict[str, int] = Field(default_factory=dict)
    sweep: Sweep | None = None

    @model_validator(mode="after")
    def _known_action(self) -> Fault:
        if self.action == "down":
            if self.attributes or self.sweep:
                raise ValueError("action 'down' takes no attributes")
            return self
        if self.action not in TOXIC_TYPES:
            known = ", ".join(["down", *sorted(TOXIC_TYPES)])
            raise ValueError(f"unknown action {self.action!r} (known: {known})")
        attributes = dict(self.attributes)
        if self.sweep is not None:
            attributes[self.sweep.attribute] = self.sweep.start
        make_toxic(self.action, attributes)
        return self


class Expect(_Strict):
    checks: tuple[CheckName, ...] = CHECK_NAMES
    outcome: Literal["complete", "error"] = "complete"
    reason: Literal["finished", "duration_cap"] | None = None
    min_reconnects: Annotated[int, Field(ge=0)] | None = None
    max_reconnects: Annotated[int, Field(ge=0)] | None = None
    heartbeat_tolerance: Duration = "60ms"
    cap_tolerance: Duration = "0.5s"


class Scenario(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    description: Annotated[str, Field(min_length=1)]
    clients: Clients = Clients()
    faults: tuple[Fault, ...] = ()
    expect: Expect = Expect()

    @model_validator(mode="after")
    def _one_sweep_at_most(self) -> Scenario:
        if sum(1 for fault in self.faults if fault.sweep) > 1:
            raise ValueError("at most one fault may sweep")
        if self.clients.kind == "browser" and (self.sweep or self.clients.count > MAX_BROWSER_CLIENTS):
            raise ValueError(f"browser clients: at most {MAX_BROWSER_CLIENTS}, and no sweep")
        return self

    @property
    def sweep(self) -> Sweep | None:
        return next((fault.sweep for fault in self.faults if fault.sweep), None)

    @property
    def client_count(self) -> int:
        sweep = self.sweep
        return len(sweep.values()) if sweep else self.clients.count


def load_scenario(path: Path) -> Scenario:
    return load_toml_model(path, Scenario, "scenario")


def catalogue(directory: Path = CATALOGUE_DIR) -> list[Path]:
    return sorted(directory.glob("*.toml"))


def find_scenarios(names: list[str], directory: Path = CATALOGUE_DIR) -> list[Path]:
    """Scenario files by catalogue name or path; every name of the catalogue when empty."""
    if not names:
        return catalogue(directory)
    paths = []
    for name in names:
        path = Path(name) if name.endswith(".toml") else directory / f"{name}.toml"
        if not path.is_file():
            known = ", ".join(p.stem for p in catalogue(directory))
            raise ConfigurationError(f"no scenario {name!r} (catalogue: {known})")
        paths.append(path)
    return paths
