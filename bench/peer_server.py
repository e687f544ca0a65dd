"""The peer for benchmarks: the same events on sse-starlette + uvicorn, as a Python user would
write it: content chunks on the same deterministic answer, heartbeat events on a fixed period,
a complete event. No resume, no cap: the benchmarks do not exercise them.

Run: python bench/peer_server.py --port 0   (prints `listening on URL`; env as the reference)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator

import uvicorn
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from reference_server.answer import AnswerRequest
from reference_server.request_parsing import DEFAULT_TEMPERATURE

HEARTBEAT_INTERVAL = float(os.environ.get("HEARTBEAT_INTERVAL", "5"))
CHUNK_DELAY = float(os.environ.get("CHUNK_DELAY_MS", "50")) / 1000


def _data(payload: dict[str, object]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


async def _events(answer: AnswerRequest, stream_id: str, trace_id: str) -> AsyncIterator[ServerSentEvent]:
    base = {"stream_id": stream_id, "trace_id": trace_id}
    chunks = answer.chunks()
    next_beat = time.monotonic() + HEARTBEAT_INTERVAL
    next_chunk = time.monotonic() + CHUNK_DELAY
    seq = beats = 0
    while True:
        now = time.monotonic()
        if now >= next_beat:
            beats += 1
            yield ServerSentEvent(_data(base | {"timestamp": time.time(), "heartbeat_count": beats}), event="heartbeat")
            next_beat += HEARTBEAT_INTERVAL
        elif now >= next_chunk:
            chunk = next(chunks, None)
            if chunk is None:
                yield ServerSentEvent(_data(base | {"reason": "finished"}), event="complete", id=f"{stream_id}:{seq}")
                return
            payload = base | {"seq": seq, "content": chunk.content, "tokens": chunk.tokens}
            yield ServerSentEvent(_data(payload), event="content_chunk", id=f"{stream_id}:{seq}")
            seq += 1
            next_chunk += CHUNK_DELAY
        else:
            await asyncio.sleep(min(next_beat, next_chunk) - now)


async def stream(request: Request) -> EventSourceResponse:
    params = request.query_params
    answer = AnswerRequest(params.get("query", "q"), int(params.get("max_tokens", "120")), DEFAULT_TEMPERATURE)
    trace_id = secrets.token_hex(16)
    events = _events(answer, secrets.token_hex(8), trace_id)
    return EventSourceResponse(events, ping=3600, headers={"X-Trace-ID": trace_id})


app = Starlette(routes=[Route("/stream/search", stream)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", backlog=2048, timeout_keep_alive=5)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
