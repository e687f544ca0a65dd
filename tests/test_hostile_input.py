"""R1: a bad-input corpus against the reference server, sent as raw bytes.

Every answer is below 500, an error made by the app is JSON with an `error` code, and no
hostile value (each carries the marker EVIL) is ever echoed. Afterwards the server is healthy
and logged no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.raw_http import RawAnswer, raw_request, request
from tests.helpers.servers import ServerFactory

MARK = b"EVIL"
S = b"/stream/search"
Q = S + b"?query=q&max_tokens=4"

REJECTED = "4xx JSON"  # the app refuses it with a JSON error
TOLERATED = "200 stream"  # ignored or cleaned: the stream is served
RESUME_ERROR = "error event"  # a bad Last-Event-ID: one `error` event, stream closed
ANY = "no 5xx"  # the HTTP layer may refuse it or close: anything but a 5xx or an echo

CORPUS: dict[str, tuple[bytes, str]] = {
    "empty query": (request(S + b"?query="), REJECTED),
    "no query": (request(S), REJECTED),
    "query over the limit": (request(S + b"?query=" + b"EVIL" * 600), REJECTED),
    "query far over any limit": (request(S + b"?query=" + b"EVIL" * 30_000), ANY),
    "query with NUL and 0xFF": (request(S + b"?query=%00%ffEVIL&max_tokens=4"), TOLERATED),
    "query with broken percent-encoding": (request(S + b"?query=%zz%EVIL&max_tokens=4"), TOLERATED),
    "max_tokens not a number": (request(S + b"?query=q&max_tokens=EVIL"), REJECTED),
    "max_tokens negative": (request(S + b"?query=q&max_tokens=-5"), REJECTED),
    "max_tokens huge": (request(S + b"?query=q&max_tokens=99999999999999999999999"), REJECTED),
    "max_tokens hex": (request(S + b"?query=q&max_tokens=0x10"), REJECTED),
    "max_tokens fraction": (request(S + b"?query=q&max_tokens=5.5"), REJECTED),
    "temperature overflow": (request(S + b"?query=q&temperature=1e400"), REJECTED),
    "temperature out of range": (request(S + b"?query=q&temperature=2.5"), REJECTED),
    "temperature markup": (request(S + b"?query=q&temperature=%3CEVIL%3E"), REJECTED),
    "user_id markup": (request(S + b"?query=q&user_id=%3Cscript%3EEVIL"), REJECTED),
    "user_id huge": (request(S + b"?query=q&user_id=" + b"EVIL" * 3000), REJECTED),
    "user_id binary": (request(S + b"?query=q&user_id=%ff%feEVIL"), REJECTED),
    "trace id binary": (request(Q, {b"X-Trace-ID": b"\xff\xfeEVIL"}), TOLERATED),
    "trace id markup": (request(Q, {b"X-Trace-ID": b"<script>EVIL</script>"}), TOLERATED),
    "trace id 10 KB": (request(Q, {b"X-Trace-ID": b"EVIL" * 2500}), TOLERATED),
    "trace id with spaces": (request(Q, {b"X-Trace-ID": b"EVIL EVIL"}), TOLERATED),
    "traceparent garbage": (request(Q, {b"traceparent": b"00-EVIL-EVIL-01"}), TOLERATED),
    "traceparent binary": (request(Q, {b"traceparent": b"\xff\xfe\xfdEVIL"}), TOLERATED),
    "traceparent all zero": (request(Q, {b"traceparent": b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01"}), TOLERATED),
    "Last-Event-ID garbage": (request(Q, {b"Last-Event-ID": b"EVIL"}), RESUME_ERROR),
    "Last-Event-ID negative seq": (request(Q, {b"Last-Event-ID": b"EVILEVILEVILEVIL:-1"}), RESUME_ERROR),
    "Last-Event-ID huge seq": (request(Q, {b"Last-Event-ID": b"EVILEVILEVILEVIL:" + b"9" * 40}), RESUME_ERROR),
    "Last-Event-ID colons": (request(Q, {b"Last-Event-ID": b"::::EVIL"}), RESUME_ERROR),
    "Last-Event-ID 8 KB": (request(Q, {b"Last-Event-ID": b"EVIL" * 2000}), RESUME_ERROR),
    "Last-Event-ID binary": (request(Q, {b"Last-Event-ID": b"\xff\xfeEVIL:3"}), RESUME_ERROR),
    "Last-Event-ID with NUL": (request(Q, {b"Last-Event-ID": b"EVIL\x00:3"}), ANY),
    "header of 70 KB": (request(Q, {b"X-Padding": b"EVIL" * 17_500}), ANY),
    "header name not a token": (request(Q, {b"X-\xffEVIL": b"v"}), ANY),
    "GET with a body": (request(Q, {b"Content-Length": b"4"}) + b"EVIL", TOLERATED),
    "chunked GET with garbage": (request(Q, {b"Transfer-Encoding": b"chunked"}) + b"zz\r\nEVIL\r\n", ANY),
    "POST": (request(Q, method=b"POST"), REJECTED),
    "PUT": (request(Q, method=b"PUT"), REJECTED),
    "DELETE": (request(Q, method=b"DELETE"), REJECTED),
    "PATCH": (request(Q, method=b"PATCH"), REJECTED),
    "unknown method": (request(Q, method=b"EVIL"), ANY),
    "unknown path": (request(b"/EVIL"), REJECTED),
    "NUL in path": (request(S + b"%00EVIL"), REJECTED),
    "path of 20 KB": (request(b"/" + b"EVIL" * 5000), ANY),
    "not HTTP at all": (b"EVIL\x00\xff\r\n\r\n", ANY),
}


def _json_error(answer: RawAnswer) -> dict[str, object]:
    assert b"application/json" in answer.head.lower(), answer.head
    body = json.loads(answer.body.decode())
    assert isinstance(body.get("error"), str), body
    return body


def _judge(expect: str, answer: RawAnswer) -> None:
    assert answer.status is None or answer.status < 500, answer.head
    assert MARK not in answer.everything, answer.everything[:600]
    assert MARK.lower() not in answer.everything.lower(), answer.everything[:600]
    if expect == REJECTED:
        assert answer.status is not None
        assert 400 <= answer.status < 500
        _json_error(answer)
    elif expect == TOLERATED:
        assert answer.status == 200, answer.head
        assert b"text/event-stream" in answer.head.lower()
    elif expect == RESUME_ERROR:
        assert answer.status == 200, answer.head
        assert b"event: error" in answer.body
        assert b"bad_last_event_id" in answer.body or b"unknown_stream" in answer.body
    elif answer.status is not None and answer.status >= 400 and b"application/json" in answer.head.lower():
        _json_error(answer)


@pytest.mark.asyncio
async def test_bad_input_corpus(start_server: ServerFactory, tmp_path: Path) -> None:
    failures = []
    async with start_server() as server:
        for name, (raw, expect) in CORPUS.items():
            answer = await raw_request(server.base_url, raw)
            try:
                _judge(expect, answer)
            except AssertionError as error:
                failures.append(f"{name} (expected {expect}): {str(error)[:300]}")
        health = await raw_request(server.base_url, request(b"/healthz"))
    assert failures == []
    assert health.status == 200
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log
    assert "EVIL" not in log
