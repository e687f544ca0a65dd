"""How long a resume takes after the instance serving a stream is killed, and what it loses or doubles.

Run by hand: .venv/bin/python bench/instance_kill.py [--clients 50] [--rounds 3] [--lease 0.5]
Each round starts a redis-server's two reference-server instances (REPLAY_STORE=redis, fast timing)
and `--clients` streams on the first. Once every stream has delivered chunk 20, the first instance
is SIGKILLed; each client resumes on the second with Last-Event-ID at once. Resume times are from
the kill to the second instance's response head (it replays at once what the first had written
and the client had not yet read), and to the first chunk the second instance produced itself (it
waits for the dead lead's lease to expire, then produces from the next seq; the log's `writer`
field says which instance wrote each seq). Every client's answer is then checked against the
deterministic answer: every seq once, none missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from redis.asyncio import Redis

from harness.deploy.redis import redis_server
from harness.embedded import EmbeddedServer, embedded_server
from harness.sse import Event, SSEParser
from reference_server.answer import AnswerRequest
from reference_server.config import FAST_TIMING

TOKENS = 300  # about 120 chunks, 2.4 s at 20 ms a chunk: well inside the 6 s cap, the kill's wait included
KILL_AFTER_SEQ = 20
DEADLINE = 30.0


@dataclass
class Client:
    query: str
    chunks: list[dict[str, object]] = field(default_factory=list)
    complete: dict[str, object] | None = None
    errors: list[str] = field(default_factory=list)
    trace_ids: set[str] = field(default_factory=set)
    last_id: str = ""
    stream_id: str = ""
    resuming: bool = False
    resumed_head_at: float = 0.0
    arrivals: dict[int, float] = field(default_factory=dict)  # seq -> when it came

    async def read(self, http: httpx.AsyncClient, url: str, headers: dict[str, str], reached: asyncio.Event) -> None:
        """One connection to its end; `reached` is set once chunk KILL_AFTER_SEQ has come."""
        parser = SSEParser()
        params = {"query": self.query, "max_tokens": str(TOKENS)}
        async with http.stream("GET", url, params=params, headers=headers) as response:
            self.stream_id = response.headers["x-stream-id"]
            if self.resuming:
                self.resumed_head_at = time.monotonic()
            self.trace_ids.add(response.headers["x-trace-id"])
            async for data in response.aiter_raw():
                for item in parser.feed(data):
                    if isinstance(item, Event):
                        self._take(item, reached)

    def _take(self, event: Event, reached: asyncio.Event) -> None:
        payload = json.loads(event.data)
        self.trace_ids.add(payload["trace_id"])
        if event.has_id:
            self.last_id = event.id
        if event.event == "content_chunk":
            self.chunks.append(payload)
            self.arrivals.setdefault(int(payload["seq"]), time.monotonic())
            if payload["seq"] >= KILL_AFTER_SEQ:
                reached.set()
        elif event.event == "complete":
            self.complete = payload
        elif event.event == "error":
            self.errors.append(f"{payload['code']}: {payload['message']}")

    def lost_and_doubled(self) -> tuple[int, int]:
        """Chunks of the deterministic answer not received as sent (up to where `complete` says the
        stream ended), and chunks received more than once."""
        expected = [chunk.content for chunk in AnswerRequest(self.query, TOKENS, 0.7).chunks()]
        if self.complete is not None:
            expected = expected[: int(self.complete["total_chunks"])]  # type: ignore[call-overload]
        seqs = [int(chunk["seq"]) for chunk in self.chunks]  # type: ignore[call-overload]
        doubled = len(seqs) - len(set(seqs))
        received = {int(chunk["seq"]): chunk["content"] for chunk in self.chunks}  # type: ignore[call-overload]
        lost = sum(1 for seq, content in enumerate(expected) if received.get(seq) != content)
        return lost, doubled


async def one_client(
    client: Client, http: httpx.AsyncClient, first: str, second: str, reached: asyncio.Event, killed: asyncio.Event
) -> None:
    with contextlib.suppress(httpx.HTTPError):
        await client.read(http, first, {}, reached)
    await killed.wait()
    client.resuming = True
    await client.read(http, second, {"Last-Event-ID": client.last_id}, killed)


async def one_round(url: str, logs: Path, clients: int, lease: float, round_number: int) -> list[Client]:
    timing = FAST_TIMING | {"stream_lease_seconds": lease}
    async with contextlib.AsyncExitStack() as stack:
        servers: list[EmbeddedServer] = [
            await stack.enter_async_context(
                embedded_server(timing, logs / f"r{round_number}-{n}.log", replay_store=url)
            )
            for n in range(2)
        ]
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=DEADLINE))
        everyone = [Client(f"instance kill {round_number}.{n}") for n in range(clients)]
        reached = [asyncio.Event() for _ in everyone]
        killed = asyncio.Event()
        tasks = [
            asyncio.create_task(one_client(c, http, servers[0].stream_url, servers[1].stream_url, r, killed))
            for c, r in zip(everyone, reached, strict=True)
        ]
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(*(r.wait() for r in reached))
            servers[0].process.kill()
            await servers[0].process.wait()
            kill_at = time.monotonic()
            killed.set()
            await asyncio.gather(*tasks)
        redis = Redis.from_url(url, socket_timeout=5)
        stack.push_async_callback(redis.aclose)
        produced_after = [await first_produced_by(redis, c, servers[1].process.pid) for c in everyone]
    heads = [c.resumed_head_at - kill_at for c in everyone]
    return [Sample(h, p - kill_at if p else None, c) for h, p, c in zip(heads, produced_after, everyone, strict=True)]


async def first_produced_by(redis: Redis, client: Client, pid: int) -> float | None:
    """When the client got the first chunk the instance `pid` wrote (None: it wrote none)."""
    for entry_id, fields in await redis.xrange(f"sse:{{{client.stream_id}}}:log"):
        seq = int(entry_id.split(b"-")[0])
        if fields[b"writer"].decode().endswith(f":{pid}") and seq in client.arrivals:
            return client.arrivals[seq]
    return None


@dataclass
class Sample:
    head: float
    produced: float | None
    client: Client


def percentiles(values: list[float]) -> str:
    p50, p99, top = np.percentile(values, [50, 99, 100])
    return f"p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms   max {top * 1000:7.1f} ms"


async def main(clients: int, rounds: int, lease: float) -> None:
    with tempfile.TemporaryDirectory(prefix="instance-kill-") as scratch:
        async with redis_server(Path(scratch) / "redis") as url:
            samples = [s for n in range(rounds) for s in await one_round(url, Path(scratch), clients, lease, n)]
    results = [sample.client for sample in samples]
    produced = [sample.produced for sample in samples if sample.produced is not None]
    lost_doubled = [c.lost_and_doubled() for c in results]
    unfinished = [c.query for c in results if c.complete is None or c.complete["reason"] != "finished"]
    capped = [c.query for c in results if c.complete is not None and c.complete["reason"] == "duration_cap"]
    trace_ids = [c for c in results if len(c.trace_ids) != 1]
    print(f"{len(results)} clients over {rounds} rounds, lease {lease:g} s, fast timing")
    print(f"kill -> resumed response head         {percentiles([sample.head for sample in samples])}")
    print(f"kill -> first chunk the taker produced {percentiles(produced)} ({len(produced)} streams)")
    print(f"events lost {sum(lost for lost, _ in lost_doubled)}, doubled {sum(d for _, d in lost_doubled)}")
    print(f"clients not finished: {len(unfinished)} (at the cap: {len(capped)})")
    print(f"clients with more than one trace id: {len(trace_ids)}")
    for error in sorted({error for c in results for error in c.errors}):
        print(f"error event: {error}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lease", type=float, default=0.5, help="STREAM_LEASE_SECONDS of the instances")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.clients, arguments.rounds, arguments.lease))
