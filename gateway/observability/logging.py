"""Structured logs: one JSON object per line, with the correlation id of the request.

Not metrics or tracing; what an operator greps and ships to a log store.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import time
from typing import Any

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


_listener: logging.handlers.QueueListener | None = None


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stdout for the gateway's loggers (access log included).

    The event loop only puts records on a queue; a thread writes them, so a slow stdout never
    blocks a request. `flush_logs` drains the queue (on shutdown).
    """
    global _listener
    flush_logs()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    root = logging.getLogger("gateway")
    root.handlers[:] = [logging.handlers.QueueHandler(records)]
    root.setLevel(level)
    root.propagate = False
    _listener = logging.handlers.QueueListener(records, handler)
    _listener.start()
    atexit.register(flush_logs)


def flush_logs() -> None:
    global _listener
    if _listener is not None:
        _listener.stop()  # writes what is queued, then ends the thread
        _listener = None


access_log = logging.getLogger("gateway.access")
