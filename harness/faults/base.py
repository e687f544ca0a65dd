"""The fault interface, the toxic base every Toxiproxy toxic shares, and the registry of kinds."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.toxiproxy.api import ToxicSpec, ToxiproxyAPI

if TYPE_CHECKING:
    from harness.deploy.base import Deployment
    from harness.history import History

NonNegativeInt = Annotated[int, Field(ge=0)]
FAULT_TYPES: dict[str, type[Fault]] = {}


class Slack(BaseModel):
    """What a fault grants the timing checks while it is applied.

    `heartbeat_s`: how far a heartbeat interval lying wholly inside the fault may stray beyond
    the scenario's tolerance; None when heartbeat timing cannot be judged across the fault at
    all (the interval is excluded). `delay_s`: how much later than on a healthy link the fault
    may deliver a byte, which the duration cap allows on top of its tolerance.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    heartbeat_s: Annotated[float, Field(ge=0)] | None = None
    delay_s: Annotated[float, Field(ge=0)] = 0.0


class FaultNote(BaseModel):
    """What the history says of a fault as it goes in or comes out: which, where, and its slack."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str
    description: str
    proxy: str
    slack: Slack
    # a merged history's window: how far apart in time the shards applied it (its start) or
    # removed it (its end); the window joins theirs
    shards_apart_s: Annotated[float, Field(ge=0)] = 0.0

    @classmethod
    def of(cls, fault: Fault, proxy: str) -> FaultNote:
        return cls(action=fault.kind, description=fault.describe(), proxy=proxy, slack=fault.slack())


@dataclass(frozen=True)
class Stage:
    """Where a fault acts: `proxy` on Toxiproxy (`api`), on the clients' path; the `deployment`
    behind the target (None: the run knows of none); the run's `history`, where a process fault
    finds the instance serving a client; `log(fault id, text)`, where it says what the deployment
    did; `chosen`, the instances each process fault acted on, for its undo."""

    api: ToxiproxyAPI
    proxy: str
    history: History
    log: Callable[[str, str], None]
    deployment: Deployment | None = None
    chosen: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Fault(BaseModel):
    """One fault kind, with its validated attributes. Subclasses set `kind` and register."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[str]
    # True: the fault is in effect while `apply` runs (a rolling restart takes seconds), so it is
    # recorded as started before the call, not after.
    acts_while_applied: ClassVar[bool] = False
    # True: `apply` is the whole fault (a restart); it is recorded as ended once the call returns.
    ends_with_apply: ClassVar[bool] = False
    # True: it acts behind the proxy (on the deployment), where the fault-free baseline's stream goes too.
    behind_the_proxy: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            if cls.kind in FAULT_TYPES:
                raise TypeError(f"two fault types are named {cls.kind!r}")
            FAULT_TYPES[cls.kind] = cls

    @abstractmethod
    async def apply(self, stage: Stage, name: str) -> None:
        """Put the fault on the stage; `name` identifies it until `undo`."""

    @abstractmethod
    async def undo(self, stage: Stage, name: str) -> None:
        """Take it off again."""

    def describe(self) -> str:
        """One line for a person: the kind and its settings."""
        return self.kind

    def slack(self) -> Slack:
        """By default a fault's span cannot be judged for heartbeat timing and delays nothing."""
        return Slack()


class Toxic(Fault):
    """A Toxiproxy toxic: its attributes (the API's names), direction and toxicity."""

    stream: Literal["downstream", "upstream"] = "downstream"
    toxicity: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0

    def attributes(self) -> dict[str, Any]:
        return self.model_dump(exclude={"stream", "toxicity"})

    async def apply(self, stage: Stage, name: str) -> None:
        spec = ToxicSpec(name, self.kind, self.attributes(), self.stream, self.toxicity)
        await stage.api.add_toxic(stage.proxy, spec)

    async def undo(self, stage: Stage, name: str) -> None:
        await stage.api.remove_toxic(stage.proxy, name)

    def describe(self) -> str:
        settings = [f"{key}={value}" for key, value in self.attributes().items()]
        toxicity = f", toxicity {self.toxicity:g}" if self.toxicity < 1 else ""
        return " ".join([self.kind, *settings, f"({self.stream}{toxicity})"])


def make_fault(kind: str, settings: dict[str, Any]) -> Fault:
    """A validated fault; ValueError names the kind and the first problem."""
    cls = FAULT_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"unknown action {kind!r} (known: {', '.join(sorted(FAULT_TYPES))})")
    try:
        return cls.model_validate(settings)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise ValueError(f"action {kind!r}: {where + ': ' if where else ''}{problem['msg']}") from None
