"""The application log (the gateway's `logging` records, JSON lines on standard output) when
its output fails (a full disk, a closed pipe): the lines it loses are counted in the metric the
access log's are, and said once on standard error, never one traceback a record."""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO

import pytest
from prometheus_client import REGISTRY

from gateway.observability.logging import UVICORN_LOGGER, configure_logging, flush_logs, say
from tests.conftest import failing_output

DROPPED = "gateway_log_dropped_lines_total"


@pytest.fixture(params=["dev-full", "raising"])
def failing_stdout(request: pytest.FixtureRequest) -> Iterator[IO[str]]:
    with failing_output(request.param, "w") as out:
        yield out


@pytest.fixture
def gateway_logger() -> Iterator[logging.Logger]:
    """The gateway's logger, put back as it was with uvicorn's (configure_logging replaces
    their handlers)."""
    logger = logging.getLogger("gateway")
    loggers = [logger, logging.getLogger(UVICORN_LOGGER)]
    saved = [(each.handlers[:], each.level, each.propagate) for each in loggers]
    try:
        yield logger
    finally:
        flush_logs()
        for each, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            each.handlers[:], each.level, each.propagate = handlers, level, propagate


def _dropped(log: str) -> float:
    return REGISTRY.get_sample_value(DROPPED, {"log": log}) or 0.0


def test_records_a_failing_output_loses_are_counted_and_said_once(
    failing_stdout: IO[str],
    gateway_logger: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Each record was a "--- Logging error ---" traceback on standard error, and no count.
    monkeypatch.setattr(sys, "stdout", failing_stdout)
    before = _dropped("application")
    configure_logging("WARNING")  # above INFO: no access log, only the application's
    for n in range(3):
        logging.getLogger("gateway.test").warning("record %d", n)
    flush_logs()  # the listener thread writes what is queued, then ends
    assert _dropped("application") - before == 3
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err, err
    warnings = err.strip().splitlines()
    assert len(warnings) == 1, warnings
    assert "application log" in warnings[0] and DROPPED in warnings[0], warnings
    assert "No space left on device" in warnings[0], warnings


def test_records_written_are_not_counted_as_dropped(
    tmp_path: os.PathLike[str],
    gateway_logger: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = _dropped("application")
    with open(os.path.join(tmp_path, "app.log"), "w") as out:
        monkeypatch.setattr(sys, "stdout", out)
        configure_logging("WARNING")
        logging.getLogger("gateway.test").warning("written")
        flush_logs()
    assert _dropped("application") == before
    assert capsys.readouterr().err == ""
    with open(os.path.join(tmp_path, "app.log")) as written:
        assert '"msg":"written"' in written.read()


class _SlowOutput(io.StringIO):
    """An output that takes its time over each character, as a slow pipe or terminal does a
    long write: a writer in another thread gets in between, unless the writes take turns."""

    def write(self, text: str) -> int:
        for char in text:
            super().write(char)
            time.sleep(0.00005)
        return len(text)


def test_what_the_demo_says_and_the_logs_lines_never_splice_into_each_other(
    gateway_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo prints its tour as its servers already answer: a line of the log's writer
    # thread (a simulator's warning) was once written inside the tour, so neither read whole.
    out = _SlowOutput()
    monkeypatch.setattr(sys, "stdout", out)
    configure_logging("WARNING", short=True)
    told = "\n".join(f"step {n}: what the tour says about it" for n in range(40))
    saying = threading.Thread(target=say, args=(told,))
    saying.start()
    while saying.is_alive():
        logging.getLogger("gateway.test").warning("a line of the log")
        time.sleep(0.001)
    saying.join()
    flush_logs()
    written = out.getvalue()
    assert told + "\n" in written
    logged = re.findall(r"^\d\d:\d\d:\d\d warning gateway\.test: a line of the log$", written, re.M)
    assert logged and len(logged) == written.count("a line of the log")
