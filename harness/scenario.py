"""Scenario files: a fault timeline, the clients, and what to expect. TOML, validated.

Durations are written as `harness.durations` reads them; a scenario is resolved against the
target's timing into a plan (`harness.plan`) before it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from harness.catalogue import CATALOGUE_DIR
from harness.checks import CHECKS
from harness.deploy.spec import DeploymentSpec
from harness.durations import Duration
from harness.errors import ConfigurationError, load_toml_model
from harness.faults import Fault as FaultType
from harness.faults import make_fault
from harness.request import RequestOverride

# Scenarios that need a deployment (instances behind a real proxy): `sse-chaos run --group deployment`.
DEPLOYMENT_DIR = CATALOGUE_DIR / "deployment"
GROUPS = {"catalogue": CATALOGUE_DIR, "deployment": DEPLOYMENT_DIR}

MAX_BROWSER_CLIENTS = 8


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

    @model_validator(mode="after")
    def _some_values(self) -> Sweep:
        if self.stop <= self.start:
            raise ValueError("a sweep's stop must be above its start")
        return self

    def values(self) -> range:
        return range(self.start, self.stop, self.step)


class Fault(_Strict):
    """A fault as written: `action` is a kind of `harness.faults`; `attributes`, `stream` and
    `toxicity` are its settings (a toxic's attributes take Toxiproxy's names)."""

    at: Duration
    duration: Duration | None = Field(None, alias="for")
    action: str
    stream: Literal["downstream", "upstream"] | None = None
    toxicity: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    attributes: dict[str, int | str] = Field(default_factory=dict)
    sweep: Sweep | None = None

    @model_validator(mode="after")
    def _valid_fault(self) -> Fault:
        self.build()
        return self

    def build(self) -> FaultType:
        """The fault this entry describes (a sweep's attribute at its first value)."""
        settings: dict[str, Any] = dict(self.attributes)
        if self.sweep is not None:
            settings[self.sweep.attribute] = self.sweep.start
        if self.stream is not None:
            settings["stream"] = self.stream
        if self.toxicity is not None:
            settings["toxicity"] = self.toxicity
        return make_fault(self.action, settings)


def _known_checks(names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check {unknown[0]!r} (known: {', '.join(CHECKS)})")
    return names


class Expect(_Strict):
    checks: Annotated[
        tuple[str, ...], AfterValidator(_known_checks), Field(json_schema_extra={"items": {"enum": list(CHECKS)}})
    ] = tuple(CHECKS)
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
    request: RequestOverride = RequestOverride()
    faults: tuple[Fault, ...] = ()
    expect: Expect = Expect()
    # run behind these processes, which the harness starts when the run has no --target
    deployment: DeploymentSpec | None = None

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
    """Scenario files by name (in `directory`, or the deployment group) or path; every scenario
    in `directory` when empty."""
    if not names:
        return catalogue(directory)
    paths = []
    for name in names:
        found = [Path(name)] if name.endswith(".toml") else [d / f"{name}.toml" for d in (directory, DEPLOYMENT_DIR)]
        path = next((path for path in found if path.is_file()), None)
        if path is None:
            known, deployed = (", ".join(p.stem for p in catalogue(d)) for d in (directory, DEPLOYMENT_DIR))
            raise ConfigurationError(f"no scenario {name!r} (catalogue: {known}; deployment group: {deployed})")
        paths.append(path)
    return paths
