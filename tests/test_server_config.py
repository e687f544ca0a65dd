"""Start-up validation of the reference server's environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from reference_server.config import ConfigError, ServerConfig
from reference_server.defects import CORRECT, DEFECTS


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HEARTBEAT_INTERVAL", "abc"),
        ("STREAM_MAX_SECONDS", "-1"),
        ("CHUNK_DELAY_MS", "nan"),
        ("MAX_STREAMS", "1.5"),
        ("INSTANCE_ID", "a b;rm"),
    ],
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


def test_the_instance_id_is_the_environment_s_else_the_process_id() -> None:
    assert ServerConfig.from_env({"INSTANCE_ID": "api-2"}).instance_id == "api-2"
    assert ServerConfig.from_env({}).instance_id == str(os.getpid())


def test_no_defect_unless_the_environment_names_one() -> None:
    assert ServerConfig.from_env({}).defect is None
    assert ServerConfig.from_env({"DEFECT": ""}).defect is None
    assert ServerConfig.from_env({}).behaviour is CORRECT
    config = ServerConfig.from_env({"DEFECT": "seq-gap"})
    assert config.defect is DEFECTS["seq-gap"]
    assert config.behaviour is DEFECTS["seq-gap"].behaviour


def test_an_unknown_defect_exits_2_naming_the_known_ones() -> None:
    env = os.environ | {"DEFECT": "no-such-defect"}
    result = subprocess.run(
        [sys.executable, "-m", "reference_server", "--port", "0"], env=env, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "'no-such-defect'" in lines[0]
    assert all(name in lines[0] for name in DEFECTS)


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost",
        "redis://localhost:6379",
        "redis://localhost:0/0",
        "redis://localhost:65536/0",
        "redis://localhost:6379/16",
        "rediss://localhost:6379/0",
        "redis://user:secret@localhost:6379/0",
        "Memory",
        "redis://localhost:6379/0\x1b[31m",
    ],
)
def test_a_bad_replay_store_exits_2_in_one_line(url: str) -> None:
    env = os.environ | {"REPLAY_STORE": url}
    result = subprocess.run(
        [sys.executable, "-m", "reference_server", "--port", "0"], env=env, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: REPLAY_STORE must be 'memory' or redis://HOST:PORT/DB, got ")
    assert "\x1b" not in lines[0]
    assert "secret" not in lines[0]


@pytest.mark.parametrize(
    "url", ["memory", "redis://127.0.0.1:6379/0", "redis://redis.internal:1/15", "redis://[::1]:6380/3"]
)
def test_a_good_replay_store_is_kept(url: str) -> None:
    assert ServerConfig.from_env({"REPLAY_STORE": url}).replay_store == url


def test_the_replay_store_is_memory_unless_the_environment_names_one() -> None:
    assert ServerConfig.from_env({}).replay_store == "memory"
    assert ServerConfig.from_env({"REPLAY_STORE": ""}).replay_store == "memory"
