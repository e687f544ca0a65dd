"""harness/deploy/redis.py: a real redis-server on a free port, always stopped."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from harness.deploy import redis as deploy_redis
from harness.deploy.redis import RedisServer, redis_server, running_redis
from harness.errors import EnvironmentProblem
from tests.helpers.redis import require_redis

pytestmark = pytest.mark.asyncio


async def ping(url: str) -> bool:
    client = Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except RedisConnectionError:
        return False
    finally:
        await client.aclose()


async def test_it_answers_inside_the_block_and_is_gone_after(tmp_path: Path) -> None:
    require_redis()
    async with redis_server(tmp_path) as url:
        assert re.fullmatch(r"redis://127\.0\.0\.1:[0-9]+/0", url)
        assert await ping(url)
        client = Redis.from_url(url)
        assert (await client.config_get("save"))["save"] == ""
        assert (await client.config_get("appendonly"))["appendonly"] == "no"
        await client.aclose()
    assert not await ping(url)


async def test_it_is_stopped_when_the_block_raises(tmp_path: Path) -> None:
    require_redis()
    urls: list[str] = []

    async def fail_inside() -> None:
        async with running_redis(tmp_path) as server:
            urls.append(server.url)
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        await fail_inside()
    assert not await ping(urls[0])


async def test_it_starts_again_on_its_own_port(tmp_path: Path) -> None:
    require_redis()
    async with running_redis(tmp_path) as server:
        url = server.url
        await server.stop()
        assert not await ping(url)
        await server.start()
        assert server.url == url
        assert await ping(url)


async def test_a_port_taken_in_between_is_picked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_redis()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1], deploy_redis.free_port()])
        monkeypatch.setattr(deploy_redis, "free_port", lambda: next(ports))
        async with running_redis(tmp_path) as server:
            assert server.port != taken.getsockname()[1]
            assert await ping(server.url)


async def test_a_missing_binary_is_one_line_naming_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvironmentProblem) as missing:
        async with redis_server(tmp_path):
            pytest.fail("started without a binary")
    assert str(missing.value) == "redis-server not found: install it (apt-get install redis-server)"


async def test_a_server_that_cannot_start_is_one_line_with_its_last_words(tmp_path: Path) -> None:
    broken = tmp_path / "redis-server"
    broken.write_text("#!/bin/sh\necho 'starting'\necho '*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***'\nexit 1\n")
    broken.chmod(0o755)
    server = RedisServer(tmp_path)
    server.binary = str(broken)
    async with asyncio.timeout(15):
        with pytest.raises(EnvironmentProblem) as failed:
            await server.start()
    assert str(failed.value) == "redis-server failed to start: *** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"
