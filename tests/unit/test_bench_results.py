"""How the benchmark sums a scenario's interleaved rounds into one row (`bench.results`)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.results import BARE, Row, combined


def turn(requests: int, cpu_ms: float, p99_ms: float, **changes: object) -> Row:
    row = Row(
        server=BARE,
        store="",
        workers=1,
        journal=True,
        scenario="GET sales order",
        connections=32,
        seconds=2.0,
        requests=requests,
        errors={},
        p50_ms=p99_ms / 4,
        p99_ms=p99_ms,
        p999_ms=p99_ms * 2,
        server_cpu_ms=cpu_ms,
        simulator_cpu_ms=cpu_ms / 2,
        redis_cpu_ms=None,
        erp_calls=1.0,
        erp_connections_per_1000=0.0,
        pinning="",
    )
    return replace(row, **changes)  # type: ignore[arg-type]


def test_requests_add_up_and_cpu_per_request_is_the_rounds_median() -> None:
    # One turn slowed down by a neighbour (0.9 ms) moves the median, not by its weight.
    row = combined([turn(1000, 0.5, 10.0), turn(3000, 0.3, 30.0), turn(500, 0.9, 20.0)])
    assert row.requests == 4500 and row.seconds == 6.0 and row.rounds == 3
    assert row.server_cpu_ms == pytest.approx(0.5)
    assert row.simulator_cpu_ms == pytest.approx(0.25)
    assert row.server_cpu_ms_rounds == (0.5, 0.3, 0.9)
    assert row.rps == pytest.approx(750.0)


def test_latencies_are_the_rounds_medians_and_errors_add_up() -> None:
    turns = [
        turn(100, 1.0, 10.0, errors={"status": 1}),
        turn(100, 1.0, 90.0, errors={"status": 2, "timeout": 1}),
        turn(100, 1.0, 20.0),
    ]
    row = combined(turns)
    assert row.p99_ms == 20.0 and row.p50_ms == 5.0 and row.p999_ms == 40.0
    assert row.errors == {"status": 3, "timeout": 1}


def test_redis_cpu_stays_unmeasured_unless_every_round_measured_it() -> None:
    assert combined([turn(10, 1.0, 1.0), turn(10, 1.0, 1.0)]).redis_cpu_ms is None
    both = [turn(10, 1.0, 1.0, redis_cpu_ms=0.2), turn(30, 1.0, 1.0, redis_cpu_ms=0.1)]
    assert combined(both).redis_cpu_ms == pytest.approx(0.15)
