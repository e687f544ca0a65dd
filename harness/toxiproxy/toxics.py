"""Toxiproxy toxics, one small validated type each (attribute names as the API spells them).

Validation rejects values known to crash or wedge the Toxiproxy server: a negative
bandwidth rate, a slicer with `average_size` 0 or `size_variation >= average_size`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NonNegativeInt = Annotated[int, Field(ge=0)]


class Toxic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type_name: ClassVar[str]

    def attributes(self) -> dict[str, Any]:
        return self.model_dump()


class Latency(Toxic):
    """Delays each chunk by `latency` ms, +/- `jitter` ms."""

    type_name = "latency"
    latency: NonNegativeInt = 0
    jitter: NonNegativeInt = 0


class Bandwidth(Toxic):
    """Throttles to `rate` KB/s; 0 pauses the stream without loss."""

    type_name = "bandwidth"
    rate: NonNegativeInt


class SlowClose(Toxic):
    """Delays passing a close on by `delay` ms."""

    type_name = "slow_close"
    delay: NonNegativeInt


class Timeout(Toxic):
    """Drops all data; with `timeout` > 0 closes after that many ms of idle time. Removing it closes."""

    type_name = "timeout"
    timeout: NonNegativeInt = 0


class ResetPeer(Toxic):
    """Resets the connection (TCP RST) `timeout` ms after the next chunk."""

    type_name = "reset_peer"
    timeout: NonNegativeInt = 0


class Slicer(Toxic):
    """Splits chunks into pieces of about `average_size` bytes, `delay` µs apart."""

    type_name = "slicer"
    average_size: Annotated[int, Field(gt=0)]
    size_variation: NonNegativeInt = 0
    delay: NonNegativeInt = 0

    @model_validator(mode="after")
    def _variation_below_average(self) -> Slicer:
        if self.size_variation >= self.average_size:
            raise ValueError("size_variation must be smaller than average_size (the server would crash)")
        return self


class LimitData(Toxic):
    """Closes the connection after exactly `bytes` bytes."""

    type_name = "limit_data"
    bytes: NonNegativeInt


TOXIC_TYPES: dict[str, type[Toxic]] = {
    cls.type_name: cls for cls in (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData)
}


def make_toxic(type_name: str, attributes: dict[str, Any]) -> Toxic:
    try:
        cls = TOXIC_TYPES[type_name]
    except KeyError:
        raise ValueError(f"unknown toxic {type_name!r} (known: {', '.join(sorted(TOXIC_TYPES))})") from None
    return cls.model_validate(attributes)


class ToxicSpec(BaseModel):
    """A toxic as added to a proxy: which direction, how often, and what."""

    model_config = ConfigDict(frozen=True)

    name: str
    toxic: Toxic
    stream: Literal["downstream", "upstream"] = "downstream"
    toxicity: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.toxic.type_name,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.toxic.attributes(),
        }
