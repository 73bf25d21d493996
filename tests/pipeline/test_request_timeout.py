"""The request timeout (`policies/operations.yaml` `requests.timeout_s`): a request still at
work when it runs out is answered as any request past its deadline, and a reload sets it for the
requests that arrive after it. Not how an ERP call keeps its deadline (see
`tests/unit/test_erp_calls_deadlines.py`).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from gateway.app import current_runtime
from gateway.ops.reload import Reloader
from gateway.store.base import Store
from tests.configs import copy_config
from tests.e2e import payloads
from tests.harness import Gateway, in_process_gateway

TIMEOUT_S = 0.5  # far below the shipped backends' timeout_s (5 s), which would end it otherwise
HUNG_S = 3600.0  # an ERP that never answers within any test


def _operations(config_dir: Path, timeout_s: float) -> None:
    (config_dir / "policies" / "operations.yaml").write_text(
        f"requests:\n  timeout_s: {timeout_s}\n"
    )


async def _create_on_a_hung_erp(
    gw: Gateway, api: httpx.AsyncClient
) -> tuple[httpx.Response, float]:
    """A customer created on the cloud ERP, which never answers: the answer, and how long after
    the request was sent the ERP call's deadline was (at most the request's, as the gateway
    gives it)."""
    erp = gw.erps["cloud"]
    erp.delay_s = HUNG_S
    erp.contexts.clear()
    sent = time.monotonic()
    answer = await api.post("/v1/customers", json=payloads.customer("US01"))
    (call,) = erp.contexts
    assert call.deadline is not None
    return answer, call.deadline - sent


async def test_a_request_past_the_configured_timeout_is_answered_504_erp_timeout(
    store: Store, tmp_path: Path
) -> None:
    config_dir = copy_config(tmp_path)
    _operations(config_dir, TIMEOUT_S)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        backend_timeout_s = gw.runtime.timeouts()["cloud"]
        assert backend_timeout_s > TIMEOUT_S
        answer, deadline_after_s = await _create_on_a_hung_erp(gw, api)
    assert (answer.status_code, answer.json()["code"]) == (504, "erp_timeout"), answer.text
    assert answer.json()["retryable"] is True
    # The ERP call was cut off by the request's deadline, the configured timeout after it
    # arrived (it arrived after it was sent), not by the backend's own timeout_s.
    assert TIMEOUT_S <= deadline_after_s < backend_timeout_s


async def test_a_reload_sets_the_request_timeout_of_the_requests_after_it(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config_dir = copy_config(tmp_path)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        backend_timeout_s = gw.runtime.timeouts()["cloud"]
        assert gw.runtime.request_timeout_s > backend_timeout_s  # 15 s by default
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        _operations(config_dir, TIMEOUT_S)
        with caplog.at_level("WARNING", logger="gateway.config"):
            assert await reloader.reload_if_changed("SIGHUP") == []
        # Applied, and each backend whose timeout_s it now cuts short warned of, as `gateway
        # check` warns of it.
        warned = [r.getMessage() for r in caplog.records if r.name == "gateway.config"]
        files = [w.split(":", 1)[0] for w in warned]
        assert files == ["backends/cloud.yaml", "backends/legacy.yaml"], warned
        assert all("is not below the request timeout" in w for w in warned), warned
        assert current_runtime(gw.app).request_timeout_s == TIMEOUT_S
        answer, after_s = await _create_on_a_hung_erp(gw, api)
    assert (answer.status_code, answer.json()["code"]) == (504, "erp_timeout"), answer.text
    assert TIMEOUT_S <= after_s < backend_timeout_s
