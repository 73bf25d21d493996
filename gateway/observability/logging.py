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


class ShortFormatter(logging.Formatter):
    """One short line a person can follow, for `gateway demo`: each request as
    `12:03:04 POST /v1/sales-orders 201 14 ms  crm-demo US01 -> cloud`."""

    def format(self, record: logging.LogRecord) -> str:
        at = time.strftime("%H:%M:%S", time.localtime(record.created))
        fields = record.__dict__
        if record.name == access_log.name:
            who = fields.get("client_id") or "-"
            where = " -> ".join(
                str(v) for v in (fields.get("legal_entity"), fields.get("backend")) if v
            )
            return (
                f"{at} {fields.get('method')} {fields.get('path')} {fields.get('status')} "
                f"{fields.get('duration_ms')} ms  {who} {where}".rstrip()
            )
        line = f"{at} {record.levelname.lower()} {record.name}: {record.getMessage()}"
        return line + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


_listener: logging.handlers.QueueListener | None = None


def configure_logging(level: str = "INFO", *, short: bool = False) -> None:
    """JSON lines on stdout for the gateway's loggers (access log included); `short`, one
    human line each instead (the demo).

    The event loop only puts records on a queue; a thread writes them, so a slow stdout never
    blocks a request. `flush_logs` drains the queue (on shutdown).
    """
    global _listener
    flush_logs()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(ShortFormatter() if short else JsonFormatter())
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
