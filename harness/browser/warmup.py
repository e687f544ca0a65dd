"""Warming a freshly launched browser before any scenario's clock starts.

A browser's first pages are slow: its code and the fonts for the answer's scripts come off disk
and its renderer compiles the page's modules. On a fresh machine the very first browser scenario
of a run lost up to 100 ms per page to that, in the middle of its fault timeline. One page that
streams a canned answer (Latin, CJK and emoji, like the reference answer) through the search
page's own code, with a screenshot at the end, takes that cost before any timeline.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from harness.browser.chromium import Chromium
from harness.browser.client import BrowserClient
from harness.client import ClientSettings
from harness.history import History

_ORIGIN = "http://warm-up.sse-chaos.invalid"
_DEADLINE_SECONDS = 15.0
_TRACE = "0" * 32
_STREAM = "0" * 16


def _event(name: str, event_id: str, payload: dict[str, object]) -> str:
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


_ANSWER = ["warm ", "café ", "東京 ", "🚀"]
_BODY = (
    "retry: 1000\n\n"
    + "".join(
        _event("content_chunk", f"{_STREAM}:{seq}", {"seq": seq, "content": text, "trace_id": _TRACE})
        for seq, text in enumerate(_ANSWER)
    )
    + "event: heartbeat\ndata: {}\n\n"
    + _event("complete", f"{_STREAM}:{len(_ANSWER)}", {"reason": "finished", "total_chunks": len(_ANSWER)})
).encode()
_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Trace-ID": _TRACE}


async def warm_up(chromium: Chromium) -> None:
    """Once per launched browser; a later call on the same browser returns at once."""
    if chromium.warm:
        return
    settings = ClientSettings(f"{_ORIGIN}/stream", deadline=_DEADLINE_SECONDS)
    with tempfile.TemporaryDirectory(prefix="sse-chaos-warm-up-") as folder:
        screenshot = Path(folder) / "page.png"
        client = BrowserClient(
            "warm-up", settings, History(), chromium, screenshot=screenshot, canned_response=(_HEADERS, _BODY)
        )
        await client.run()
    chromium.warm = True
