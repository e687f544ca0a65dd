"""The target: what its probe reads of the timing it advertises, by the one rule clients use too."""

from __future__ import annotations

import asyncio

import pytest

from harness.errors import ConfigurationError
from harness.profile import DEFAULT_PROFILE
from harness.target import Target, Timing, on_this_machine, probe_timing
from harness.transport import new_http_client
from tests.helpers.raw_server import raw_server

DECLARED = DEFAULT_PROFILE.model_copy(update={"stream_max_seconds": 7.0})


async def probed(cap_header: str) -> Timing:
    async def answer(_number: int, _headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Heartbeat-Interval: 0.25\r\n"
        writer.write(f"{head}X-Stream-Max-Seconds: {cap_header}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()

    async with raw_server(answer) as url, new_http_client() as http:
        return await probe_timing(http, Target(url, DECLARED))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("advertised", "cap"), [("2.5", 2.5), ("86400", 86400.0), ("1e1", 10.0), ("0", 7.0), ("-3", 7.0)]
)
async def test_the_probe_reads_the_advertised_cap_and_zero_or_less_leaves_the_declared_one(
    advertised: str, cap: float
) -> None:
    timing = await probed(advertised)
    assert (timing.heartbeat, timing.cap, timing.silence) == (0.25, cap, None)


@pytest.mark.asyncio
@pytest.mark.parametrize("advertised", ["soon", "1_0", "Infinity", "1e400", "5 s"])
async def test_a_malformed_advertised_timing_is_a_configuration_error(advertised: str) -> None:
    with pytest.raises(ConfigurationError, match=f"X-Stream-Max-Seconds is not a number of seconds: '{advertised}'"):
        await probed(advertised)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000/s", True),
        ("http://127.8.0.2/s", True),
        ("http://[::1]:8000/s", True),
        ("http://localhost/s", True),
        ("https://api.example/s", False),
        ("http://10.0.0.1/s", False),
        ("http://[2001:db8::1]/s", False),
    ],
)
def test_a_target_on_this_machine_is_one_on_loopback(url: str, local: bool) -> None:
    assert on_this_machine(url) is local
