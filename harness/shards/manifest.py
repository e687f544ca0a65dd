"""shard.json, in a shard's report directory: which shard it is, of how many, the common start T,
its clock's measurement and each scenario's slot: what `sse-chaos merge` checks the shards agree on."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from harness.errors import ConfigurationError
from harness.report.files import write_atomic
from harness.shards.clock import ClockMeasurement
from harness.share import Share
from harness.untrusted import printable

MANIFEST = "shard.json"


class ShardManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shard: str  # "I/N"
    start_at: float
    clock: ClockMeasurement
    slots: dict[str, float]  # scenario name: its timeline's start, reference Unix seconds

    @field_validator("shard")
    @classmethod
    def _a_share(cls, shard: str) -> str:
        Share.parse(shard)
        return shard

    @property
    def share(self) -> Share:
        return Share.parse(self.shard)


def write_manifest(report_dir: Path, manifest: ShardManifest) -> None:
    write_atomic(report_dir / MANIFEST, manifest.model_dump_json(indent=2))


def read_manifest(report_dir: Path) -> ShardManifest:
    where = printable(str(report_dir))
    path = report_dir / MANIFEST
    if not path.is_file():
        raise ConfigurationError(f"{where}: no {MANIFEST}: not the report directory of a `sse-chaos run --shard`")
    try:
        return ShardManifest.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError, ConfigurationError) as error:
        why = printable(str(error).splitlines()[0] if str(error) else type(error).__name__)
        raise ConfigurationError(f"{where}/{MANIFEST}: not one sse-chaos wrote ({why})") from None
