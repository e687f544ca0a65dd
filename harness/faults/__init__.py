"""Faults: what the nemesis can do to a stream's path, one small type per file.

Every fault can apply itself to a proxy, undo itself, describe itself, and state the timing
slack it grants the checks while it is applied (`Slack`). Adding a fault is adding a file here
with one `Fault` subclass that names its `kind`: this package imports every module in it, and
the subclass registers itself, as a toxic does in Toxiproxy's `toxics/` folder.
"""

from __future__ import annotations

import importlib
import pkgutil

from harness.faults.base import FAULT_TYPES, Fault, FaultNote, Slack, Stage, Toxic, make_fault

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["FAULT_TYPES", "Fault", "FaultNote", "Slack", "Stage", "Toxic", "make_fault"]
