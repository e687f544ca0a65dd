"""How late a page stamped each read, from when the browser received its bytes (DevTools' events)."""

from __future__ import annotations

from harness.browser.delivery import DeliveryTimes
from harness.history import History, Kind

STREAM = "http://127.0.0.1:8000/stream/search?query=q"


def delivered(*pieces: tuple[float, int], request: str = "r0", url: str = STREAM) -> DeliveryTimes:
    times = DeliveryTimes("/stream/search")
    times._sent({"requestId": request, "request": {"url": url}})
    for at, length in pieces:
        times._received({"requestId": request, "timestamp": at, "dataLength": length})
    return times


def page_read(history: History, at: float, offset: int, nbytes: int, connection: int = 0) -> None:
    history.add_at(round(at * 1e9), "b0000", Kind.BYTES, connection=connection, offset=offset, nbytes=nbytes)


def lags(history: History) -> list[tuple[float, int]]:
    return [(record.t_ns / 1e9, record.lag_us) for record in history.of_kind(Kind.LOOP_LAG)]


def test_a_read_stamped_after_its_bytes_arrived_is_a_lag_sample_of_that_delay() -> None:
    history = History()
    page_read(history, 10.0005, 0, 11)  # on time
    page_read(history, 10.150, 11, 300)  # its last byte arrived at 10.100: stamped 50 ms late
    delivered((10.0, 11), (10.050, 100), (10.100, 200)).record_lag(history, "b0000")
    assert lags(history) == [(10.0005, 500), (10.150, 50_000)]


def test_reads_of_other_requests_clients_or_unknown_bytes_give_no_sample() -> None:
    history = History()
    page_read(history, 10.2, 0, 11, connection=1)  # the page's second connection: no such request seen
    page_read(history, 10.3, 11, 999)  # more bytes than the browser reported
    history.add_at(10_400_000_000, "b0001", Kind.BYTES, connection=0, offset=0, nbytes=11)
    times = delivered((10.0, 11), (10.1, 11))
    times._sent({"requestId": "other", "request": {"url": "http://127.0.0.1:8000/__sse-chaos/static/page.js"}})
    times._received({"requestId": "other", "timestamp": 9.0, "dataLength": 5000})
    times.record_lag(history, "b0000")
    assert lags(history) == []


def test_a_read_stamped_before_the_browser_reported_its_bytes_is_no_lag() -> None:
    history = History()
    page_read(history, 10.0, 0, 11)
    delivered((10.002, 11)).record_lag(history, "b0000")
    assert lags(history) == []
