"""Polling an ERP that cannot push, in-process over a fake ERP: a round reads each open order
within the ERP's budget (`rate-limits.yaml` `backends:`), as every other caller of it does."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway.ops.erp_polling import ErpPolling
from gateway.pipeline.ratelimit import take_erp_budget
from gateway.runtime import Runtime
from gateway.service.breaker import BreakerState
from gateway.store.base import Store
from tests.configs import write_config
from tests.harness import WatchedReads, erp_calls_timed, in_process_gateway, open_orders

MAX_IN_FLIGHT = 2
BUDGET = f"""
tiers:
  standard: {{rate_per_s: 1000, burst: 2000}}
backends:
  legacy: {{max_rps: 1000, max_in_flight: {MAX_IN_FLIGHT}}}
  cloud: {{max_rps: 1000, max_in_flight: {MAX_IN_FLIGHT}}}
"""
# Breakers on (off in tests by default): two technical failures in a row open one.
BREAKER = {"attempts": 1, "enabled": "true", "failures": 2, "cool_down_s": 30}


def _polled(config_dir: Path, backend: str) -> None:
    """`backend` polled (every half second) instead of pushing its changes."""
    path = config_dir / "backends" / f"{backend}.yaml"
    text, found = re.subn(
        r"(?m)^  mode: push.*$", "  mode: poll\n  poll_interval_s: 0.5", path.read_text()
    )
    assert found == 1
    path.write_text(text)


def _with_adapter(runtime: Runtime, backend: str, adapter: Any) -> Runtime:
    backends = dict(runtime.backends)
    backends[backend] = replace(backends[backend], adapter=adapter)
    return replace(runtime, backends=backends)


async def test_a_polling_round_reads_the_erp_within_its_budget(
    store: Store, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, rate_limits=BUDGET)
    _polled(config_dir, "legacy")
    async with in_process_gateway(store, config_dir) as gw:
        await open_orders(gw, 3)
        legacy = WatchedReads(gw.erps["legacy"], delay_s=0.05)
        runtime = _with_adapter(gw.runtime, "legacy", legacy)
        timed_before = erp_calls_timed("legacy", "get_sales_order", "ok", "polling")

        recorded = await ErpPolling(lambda: runtime).poll_once()

    assert recorded == 3  # each order's first event: the round waited for its turns, none shed
    assert legacy.peak == MAX_IN_FLIGHT  # an order's three reads, two at a time
    # Timed with the ERP's other calls, as polling's.
    assert erp_calls_timed("legacy", "get_sales_order", "ok", "polling") == timed_before + 3


async def test_a_polling_round_waits_while_clients_hold_the_erps_whole_budget(
    store: Store, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, rate_limits=BUDGET)
    _polled(config_dir, "legacy")
    async with in_process_gateway(store, config_dir) as gw:
        await open_orders(gw, 2)
        legacy = WatchedReads(gw.erps["legacy"], delay_s=0.0)
        runtime = _with_adapter(gw.runtime, "legacy", legacy)
        # Every slot of the ERP's budget held, as clients' requests in flight hold them.
        budget = runtime.rate_limits.backends["legacy"]
        held = [(await take_erp_budget(store, "legacy", budget, 30.0))[0] for _ in range(2)]
        assert all(slot is not None for slot in held)

        polling = asyncio.create_task(ErpPolling(lambda: runtime).poll_once())
        await asyncio.sleep(0.3)
        assert (legacy.calls, polling.done()) == (0, False)  # waiting its turn, not failing
        for slot in held:
            await store.settle(slot, None, None)
        recorded = await asyncio.wait_for(polling, 5)

    assert recorded == 2
    assert legacy.calls == 6


async def test_a_failing_erp_opens_its_breaker_and_polling_leaves_it_alone_while_open(
    store: Store, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, resilience=BREAKER, rate_limits=BUDGET)
    _polled(config_dir, "legacy")
    async with in_process_gateway(store, config_dir) as gw:
        await open_orders(gw, 3)
        legacy = gw.erps["legacy"]
        legacy.down = True
        legacy.calls.clear()
        now = time.time()
        polling = ErpPolling(lambda: gw.runtime, clock=lambda: now)
        refused_before = erp_calls_timed("legacy", "none", "breaker_open", "polling")

        await polling.poll_once()
        failing_round = list(legacy.calls)
        breaker = gw.runtime.backends["legacy"].breaker.view()
        now += 1.0  # the next round's interval has passed; the breaker's cool-down has not
        await polling.poll_once()

    # The round's failures count toward the ERP's breaker as clients' do: two open it (the
    # first order's reads), and no other read is sent; nor is anything while it stays open.
    assert breaker.state is BreakerState.OPEN
    assert len(failing_round) == BREAKER["failures"]
    assert legacy.calls == failing_round
    # The refusals timed as ERP calls that sent nothing, polling's.
    assert erp_calls_timed("legacy", "none", "breaker_open", "polling") > refused_before
