"""Tests that need the real Toxiproxy server."""

from __future__ import annotations

import pytest

from harness.errors import EnvironmentProblem
from harness.toxiproxy import find_binary


def require_toxiproxy() -> None:
    try:
        find_binary()
    except EnvironmentProblem as missing:
        pytest.skip(f"{missing} (scripts/setup builds it; CI always does)")
