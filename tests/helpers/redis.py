"""Tests that need a real redis-server."""

from __future__ import annotations

import pytest

from harness.deploy.redis import find_redis_server
from harness.errors import EnvironmentProblem


def require_redis() -> None:
    try:
        find_redis_server()
    except EnvironmentProblem as missing:
        pytest.skip(f"{missing}; CI always has it")
