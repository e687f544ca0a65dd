"""Start-up validation of the reference server's environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from reference_server.config import ConfigError, ServerConfig


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HEARTBEAT_INTERVAL", "abc"), ("STREAM_MAX_SECONDS", "-1"), ("CHUNK_DELAY_MS", "nan"), ("MAX_STREAMS", "1.5")],
)
def test_bad_configuration_exits_2_naming_the_variable(variable: str, value: str) -> None:
    env = os.environ | {variable: value}
    result = subprocess.run(
        [sys.executable, "-m", "reference_server", "--port", "0"], env=env, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert variable in lines[0]


def test_silence_threshold_must_exceed_heartbeat() -> None:
    with pytest.raises(ConfigError, match="SILENCE_THRESHOLD"):
        ServerConfig.from_env({"HEARTBEAT_INTERVAL": "5", "SILENCE_THRESHOLD": "2"})


def test_floats_allowed_for_sub_second_timings() -> None:
    config = ServerConfig.from_env({"HEARTBEAT_INTERVAL": "0.1", "SILENCE_THRESHOLD": "0.3"})
    assert (config.heartbeat_interval, config.silence_threshold) == (0.1, 0.3)
