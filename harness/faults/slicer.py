"""Slicer: chunks are cut into pieces of about `average_size` bytes, `delay` µs apart.

A `size_variation` at or above `average_size` crashes the Toxiproxy server: refused here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from harness.faults.base import NonNegativeInt, Toxic


class Slicer(Toxic):
    kind = "slicer"
    average_size: Annotated[int, Field(gt=0)]
    size_variation: NonNegativeInt = 0
    delay: NonNegativeInt = 0

    @model_validator(mode="after")
    def _variation_below_average(self) -> Slicer:
        if self.size_variation >= self.average_size:
            raise ValueError("size_variation must be smaller than average_size (the server would crash)")
        return self
