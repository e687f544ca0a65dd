"""Garbage collection for a process whose event loop stamps or sends on a schedule."""

from __future__ import annotations

import gc

FULL_COLLECTION_THRESHOLD = 1000


def quiet_collector() -> None:
    """Full collections stop the event loop (measured 30-190 ms with a hundred streams or
    clients: enough to make a heartbeat late). What is loaded by now lives to the end, so it is
    frozen out of every collection, and full collections run rarely: young ones still free
    most garbage."""
    gc.freeze()
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_THRESHOLD)
