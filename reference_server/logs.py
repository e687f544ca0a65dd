"""One JSON object per log line, carrying the structured fields passed in `extra`."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class PeerGoneFilter(logging.Filter):
    """Hypercorn lets a socket error of its final close reach asyncio's error log, with a
    traceback; a peer that vanished or stopped reading (the TCP user timeout fired) is routine
    for a stream server, so it becomes one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if record.name == "asyncio" and _socket_error(error):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args, record.exc_info = f"connection closed: {error}", (), None
        return True


def _socket_error(error: BaseException | None) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return all(_socket_error(inner) for inner in error.exceptions)
    return isinstance(error, TimeoutError | ConnectionError) or (error is not None and _socket_error(error.__context__))


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PeerGoneFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
