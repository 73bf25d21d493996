"""Structured logs: one JSON object per line, with the correlation id of the request.

The access log (one line per request) takes its own short path: the line is encoded once
(orjson) and batched, and a writer thread writes each batch, so that a request costs an
encode and a list append, not a LogRecord, a queue hop and a formatter. Everything else goes
through `logging` (queued, written by a thread). A line either log fails to write (a full
disk, a closed stdout) is counted in a metric and said once on stderr (`DroppedLines`).

Not metrics or tracing; what an operator greps and ships to a log store.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import logging.handlers
import queue
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import orjson

from gateway.observability.metrics import LOG_DROPPED

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _UtcSeconds:
    """A timestamp's UTC second as ISO 8601 text (`2026-11-30T18:58:08`), formatted once a
    second: every request's access line has one, and `strftime` costs a microsecond."""

    def __init__(self) -> None:
        self._last: tuple[int, str] = (-1, "")  # one tuple: a reader on another thread sees a pair

    def __call__(self, at: float) -> str:
        second = int(at)
        last = self._last
        if last[0] != second:
            last = self._last = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return last[1]


_utc_seconds = _UtcSeconds()


def iso_timestamp(at: float) -> str:
    """`at` (seconds since the epoch) as the logs write it: `2026-11-30T18:58:08.037Z`."""
    return f"{_utc_seconds(at)}.{int((at % 1) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": iso_timestamp(record.created),
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
    """One short line a person can follow, for `gateway demo` (requests: see AccessLog)."""

    def format(self, record: logging.LogRecord) -> str:
        at = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{at} {record.levelname.lower()} {record.name}: {record.getMessage()}"
        return line + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


# C0 and C1 controls and DEL: in a caller's path (percent-decoded), a CR/LF would forge a line
# of the log and an ESC would drive the terminal that shows it.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def short_access_line(fields: dict[str, Any]) -> bytes:
    """The demo's line for a request:
    `12:03:04 POST /v1/sales-orders 201 14 ms  crm-demo US01 -> cloud`; control characters
    escaped (`\\n`, `\\x1b`), so that a request is always one line."""
    at = time.strftime("%H:%M:%S", time.localtime(fields["at"]))
    who = fields.get("client_id") or "-"
    where = " -> ".join(str(v) for v in (fields.get("legal_entity"), fields.get("backend")) if v)
    # A request the server refused before it was framed has neither: `-`, as for no client.
    method = fields.get("method") or "-"
    path = fields.get("path") or "-"
    line = (
        f"{at} {method} {path} {fields.get('status')} "
        f"{fields.get('duration_ms')} ms  {who} {where}".rstrip()
    )
    return _CONTROLS.sub(_escaped, line).encode("utf-8", "replace") + b"\n"


def json_access_line(fields: dict[str, Any]) -> bytes:
    """The access record as the JSON formatter would write it, encoded once: its fixed
    members first, written as text ahead of the request's fields (which name none of them),
    so that they are not copied into a second dict on every request."""
    ts = iso_timestamp(fields.pop("at"))
    try:
        encoded = orjson.dumps(fields, default=str)
    except TypeError:
        # Text orjson will not encode (a lone surrogate, which a token's claim may hold):
        # the standard library escapes it. Logging never fails the request it records.
        entry = {"ts": ts, "level": "info", "logger": ACCESS_LOGGER, "msg": "request", **fields}
        return json.dumps(entry, default=str, separators=(",", ":")).encode() + b"\n"
    head = f'{{"ts":"{ts}","level":"info","logger":"{ACCESS_LOGGER}","msg":"request"'
    rest = b"," + encoded[1:] if fields else b"}"
    return head.encode() + rest + b"\n"


class DroppedLines:
    """The lines one log loses because writing them failed (a full disk, a closed stdout):
    counted in `gateway_log_dropped_lines_total{log=...}`, and said on stderr the first time
    only (each time would be a line a record, and stdout, where the logs go, is what fails)."""

    def __init__(self, log: str) -> None:
        self._log = log
        self._counter = LOG_DROPPED.labels(log)  # 0 from the start: an alert sees the first loss
        self._warned = False

    def count(self, lines: int, exc: Exception) -> None:
        self._counter.inc(lines)
        if self._warned:
            return
        self._warned = True
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        with contextlib.suppress(OSError, ValueError):
            print(
                f"gateway: the {self._log} log cannot be written ({reason}); its lines are "
                f'dropped and counted in gateway_log_dropped_lines_total{{log="{self._log}"}}',
                file=sys.stderr,
                flush=True,
            )


class _LineHandler(logging.StreamHandler[IO[str]]):
    """The application log's writer: a record it fails to write (a full disk, a closed stdout)
    is counted as dropped, not one traceback on stderr a record as `logging` prints them. A
    record that cannot be formatted is still `logging`'s error: a mistake in the code."""

    def __init__(self, stream: IO[str], dropped: DroppedLines) -> None:
        super().__init__(stream)
        self._dropped = dropped

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except RecursionError:  # as logging's own handlers do
            raise
        except Exception:
            self.handleError(record)
            return
        try:
            self.stream.write(line)
            self.flush()
        except (OSError, ValueError) as exc:  # ValueError: a closed stream
            self._dropped.count(1, exc)


ACCESS_LOGGER = "gateway.access"
UVICORN_LOGGER = "uvicorn"  # the server's: `uvicorn.error` (its name for everything), `.asgi`
_BATCH_LINES = 256  # written at once; more waiting means a write is under way
_FLUSH_S = 0.05


class AccessLog:
    """The access log: `write` encodes one line and keeps it; the batch goes to a writer
    thread within `_FLUSH_S` (or at `_BATCH_LINES`), one hand-over per batch."""

    def __init__(self) -> None:
        self.enabled = False
        self._encode: Callable[[dict[str, Any]], bytes] = json_access_line
        self._lines: list[bytes] = []
        self._scheduled = False
        self._batches: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._out: IO[bytes] = sys.stdout.buffer
        self._dropped = DroppedLines("access")

    def start(self, *, short: bool, out: IO[bytes] | None = None) -> None:
        self.stop()
        self._encode = short_access_line if short else json_access_line
        self._out = out or sys.stdout.buffer
        self._thread = threading.Thread(target=self._drain, name="access-log", daemon=True)
        self._thread.start()
        self.enabled = True

    def write(self, fields: dict[str, Any]) -> None:
        if not self.enabled:
            return
        fields["at"] = time.time()
        self._lines.append(self._encode(fields))
        if len(self._lines) >= _BATCH_LINES:
            self._hand_over()
        elif not self._scheduled:
            try:
                asyncio.get_running_loop().call_later(_FLUSH_S, self._hand_over)
                self._scheduled = True
            except RuntimeError:  # no event loop: write now
                self._hand_over()

    def _hand_over(self) -> None:
        self._scheduled = False
        if self._lines:
            batch, self._lines = b"".join(self._lines), []
            self._batches.put(batch)

    def _drain(self) -> None:
        while (batch := self._batches.get()) is not None:
            try:
                self._out.write(batch)
                self._out.flush()
            except (OSError, ValueError) as exc:  # a full disk, a closed stdout
                self._dropped.count(batch.count(b"\n"), exc)

    def stop(self) -> None:
        """Write what is kept, then end the writer thread (on shutdown)."""
        self._hand_over()
        self.enabled = False
        if self._thread is not None:
            self._batches.put(None)
            self._thread.join(timeout=5)
            self._thread = None


access_log = AccessLog()
_listener: logging.handlers.QueueListener | None = None
_handler: _LineHandler | None = None  # the application log's writer, once configured


def configure_logging(level: str = "INFO", *, short: bool = False) -> None:
    """JSON lines on stdout for the gateway's loggers, uvicorn's and its access log; `short`,
    one human line each instead (the demo). The access log is on at INFO and below.

    The event loop only hands lines to threads, so a slow stdout never blocks a request.
    `flush_logs` writes what is waiting (on shutdown).
    """
    global _listener, _handler
    flush_logs()
    # A new output: its first loss is said again.
    handler = _handler = _LineHandler(sys.stdout, DroppedLines("application"))
    handler.setFormatter(ShortFormatter() if short else JsonFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    queued = logging.handlers.QueueHandler(records)
    root = logging.getLogger("gateway")
    root.handlers[:] = [queued]
    root.setLevel(level)
    root.propagate = False
    # uvicorn's lines too (`uvicorn.error` and the rest propagate to `uvicorn`), at the levels
    # its configuration sets (`log_level`): every line the process writes is in one format. Its
    # own handlers are never installed (`log_config=None` wherever the gateway runs uvicorn).
    server = logging.getLogger(UVICORN_LOGGER)
    server.handlers[:] = [queued]
    server.propagate = False
    _listener = logging.handlers.QueueListener(records, handler)
    _listener.start()
    if root.getEffectiveLevel() <= logging.INFO:
        access_log.start(short=short)
    atexit.register(flush_logs)


def say(text: str) -> None:
    """`text` on stdout, whole, among the log's lines: a person's lines (the demo's tour) while
    the log's writer thread may be writing too, which could otherwise splice a line into them."""
    handler = _handler
    if handler is None:
        print(text, flush=True)
        return
    with handler.lock or contextlib.nullcontext():
        print(text, file=handler.stream, flush=True)


def flush_logs() -> None:
    global _listener
    access_log.stop()
    if _listener is not None:
        _listener.stop()  # writes what is queued, then ends the thread
        _listener = None
