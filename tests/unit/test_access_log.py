"""The access log's writer when its output fails (a full disk, a closed pipe): the lines it
loses are counted in a metric, and said once on standard error, never silently dropped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO

import pytest
from prometheus_client import REGISTRY

from gateway.observability.logging import AccessLog, short_access_line
from tests.conftest import failing_output

DROPPED = "gateway_log_dropped_lines_total"


@pytest.fixture(params=["dev-full", "raising"])
def failing_out(request: pytest.FixtureRequest) -> Iterator[IO[bytes]]:
    with failing_output(request.param, "wb") as out:
        yield out


def _dropped() -> float:
    return REGISTRY.get_sample_value(DROPPED, {"log": "access"}) or 0.0


def test_lines_a_failing_output_loses_are_counted_and_said_once(
    failing_out: IO[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    log = AccessLog()
    before = _dropped()
    log.start(short=False, out=failing_out)
    for status in (200, 201, 404):  # no event loop here: each line is its own batch
        log.write({"method": "GET", "path": "/v1/customers", "status": status})
    log.stop()
    assert _dropped() - before == 3
    warnings = capsys.readouterr().err.strip().splitlines()
    assert len(warnings) == 1, warnings
    assert "access log" in warnings[0] and DROPPED in warnings[0], warnings
    assert "No space left on device" in warnings[0], warnings


def test_lines_written_are_not_counted_as_dropped(
    tmp_path: os.PathLike[str], capsys: pytest.CaptureFixture[str]
) -> None:
    log = AccessLog()
    before = _dropped()
    with open(os.path.join(tmp_path, "access.log"), "wb") as out:
        log.start(short=False, out=out)
        log.write({"method": "GET", "path": "/v1/customers", "status": 200})
        log.stop()
    assert _dropped() == before
    assert capsys.readouterr().err == ""
    with open(os.path.join(tmp_path, "access.log"), "rb") as written:
        assert written.read().count(b"\n") == 1


def test_the_demos_line_for_a_request_the_server_refused_unread_shows_dashes_not_none() -> None:
    """A request the server refuses before it is framed (a method or target the parser does
    not take, a head too large) has no method nor path: the demo shows `-`, as for no client."""
    line = short_access_line(
        {"at": 0.0, "method": None, "path": None, "status": 400, "duration_ms": 0.3}
    )
    assert line.decode().split()[1:5] == ["-", "-", "400", "0.3"]
