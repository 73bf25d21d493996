"""The production shape: several gateway processes on one Redis, draining on SIGTERM, riding
out a Redis outage, and sharing rate limits and ERP budgets."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.configs import ERP_MAX_IN_FLIGHT, write_config
from tests.e2e import payloads
from tests.e2e.checks import create_customer, stats
from tests.e2e.gateways import client_for, start_gateway, token_for
from tests.redis_server import RedisProcess


def test_a_record_created_through_one_gateway_reads_through_the_other(
    redis_gateways: tuple[str, str], token: str
) -> None:
    first, second = redis_gateways
    with client_for(first, token) as one, client_for(second, token) as two:
        customer = create_customer(one, "US01")
        read = two.get(f"/v1/customers/{customer['id']}")
        assert read.status_code == 200, read.text
        assert read.json()["erp_reference"] == customer["erp_reference"]
        order = one.post(
            "/v1/sales-orders",
            json=payloads.order("DE01", create_customer(two, "DE01")["id"]),
            headers=payloads.new_key(),
        )
        assert order.status_code == 201, order.text
        assert two.get(f"/v1/sales-orders/{order.json()['id']}").status_code == 200


def test_two_gateways_sharing_redis_enforce_one_combined_limit(
    redis_gateways: tuple[str, str], prod_config_dir: Path
) -> None:
    token = token_for("crm-limited", prod_config_dir)  # tier "tight": burst 10, 1 per 20 s
    first, second = redis_gateways
    with client_for(first, token) as one, client_for(second, token) as two:
        answers = [
            client.get("/v1/customers", params={"external_ref": "LIMIT-TEST"})
            for _ in range(8)
            for client in (one, two)
        ]
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 6, statuses
    assert all(a.headers["retry-after"] == "20" for a in answers if a.status_code == 429)


def test_the_erps_in_flight_budget_holds_across_gateways_under_200_concurrent_requests(
    redis_gateways: tuple[str, str], token: str, cloud: httpx.Client
) -> None:
    first, second = redis_gateways
    with client_for(first, token) as one:
        customer = create_customer(one, "US01")
    cloud.post("/_sim/reset")  # restarts the simulator's peak_in_flight count (and its data)
    cloud.post(
        "/_sim/faults",
        json={"mode": "latency", "latency_ms": 200, "operations": ["customers.read"]},
    )

    async def burst() -> list[int]:
        headers = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(headers=headers, timeout=15, limits=limits) as client:
            answers = await asyncio.gather(
                *(
                    client.get(f"{(first, second)[i % 2]}/v1/customers/{customer['id']}")
                    for i in range(200)
                )
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(burst())
    assert set(statuses) <= {404, 503}, statuses  # the reset emptied the ERP: 404 is its answer
    assert 503 in statuses  # excess shed, never queued
    assert stats(cloud)["peak_in_flight"] <= ERP_MAX_IN_FLIGHT


def test_sigterm_answers_every_one_of_50_in_flight_requests(
    gateway_env: dict[str, str], wide_config_dir: Path, token: str, cloud: httpx.Client
) -> None:
    env = {**gateway_env, "GATEWAY_CONFIG_DIR": str(wide_config_dir)}
    with start_gateway(env) as (url, proc):
        with client_for(url, token) as api:
            customer = create_customer(api, "US01")
        cloud.post(
            "/_sim/faults",
            json={"mode": "latency", "latency_ms": 1200, "operations": ["customers.read"]},
        )
        results: list[int] = []

        async def fifty() -> None:
            headers = {"Authorization": f"Bearer {token}"}
            limits = httpx.Limits(max_connections=60)
            async with httpx.AsyncClient(headers=headers, timeout=20, limits=limits) as client:
                answers = await asyncio.gather(
                    *(client.get(f"{url}/v1/customers/{customer['id']}") for _ in range(50)),
                    return_exceptions=True,
                )
            results.extend(a.status_code if isinstance(a, httpx.Response) else -1 for a in answers)

        runner = threading.Thread(target=lambda: asyncio.run(fifty()))
        runner.start()
        deadline = time.monotonic() + 10
        while stats(cloud)["in_flight"] < 50 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stats(cloud)["in_flight"] >= 50, (results, stats(cloud))
        proc.proc.send_signal(signal.SIGTERM)
        runner.join(timeout=30)
        assert results == [200] * 50
        # uvicorn drains, then re-raises the signal it caught: exit by SIGTERM, not SIGKILL.
        assert proc.proc.wait(timeout=30) in (0, -signal.SIGTERM)


def test_a_redis_outage_is_503_store_unavailable_and_heals_without_a_restart(
    gateway_env: dict[str, str], prod_config_dir: Path, token: str
) -> None:
    with RedisProcess() as redis:
        env = {
            **gateway_env,
            "GATEWAY_CONFIG_DIR": str(prod_config_dir),
            "GATEWAY_REDIS_URL": redis.url,
        }
        with start_gateway(env) as (url, _), client_for(url, token) as api:
            before = create_customer(api, "US01")
            seen: list[tuple[float, float, int, str | None]] = []
            stop = threading.Event()

            def stream() -> None:
                with client_for(url, token) as streamer:
                    while not stop.is_set():
                        sent_at = time.monotonic()  # a request sent before the stop may succeed
                        response = streamer.get(f"/v1/customers/{before['id']}")
                        code = response.json().get("code") if response.status_code >= 400 else None
                        seen.append((sent_at, time.monotonic(), response.status_code, code))
                        time.sleep(0.02)

            streamer = threading.Thread(target=stream)
            streamer.start()
            time.sleep(0.5)
            redis.stop()
            down_at = time.monotonic()
            time.sleep(1.5)
            ready = api.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["code"] == "store_unavailable"
            restarting_at = time.monotonic()  # Redis may answer before start() returns
            redis.start()
            time.sleep(1.5)
            stop.set()
            streamer.join(timeout=10)

            statuses = {status for _, _, status, _ in seen}
            assert 500 not in statuses
            # Sent once Redis was surely down and answered before it came back (empty):
            while_down = [
                (s, c) for sent, done, s, c in seen if down_at + 0.2 < sent and done < restarting_at
            ]
            assert while_down, seen
            assert all(x == (503, "store_unavailable") for x in while_down), set(while_down)
            # Redis came back empty (no persistence in this test): the record is gone, the
            # gateway is not. New writes and reads work without restarting it.
            assert seen[-1][2] in (200, 404)
            after = create_customer(api, "US01")
            assert api.get(f"/v1/customers/{after['id']}").status_code == 200
            assert api.get("/readyz").status_code == 200


def test_each_request_writes_one_json_access_log_line_with_its_correlation_id(
    gateway_env: dict[str, str], token: str
) -> None:
    with start_gateway(gateway_env, GATEWAY_LOG_LEVEL="INFO") as (url, proc):
        with client_for(url, token) as api:
            api.get("/v1/customers/cus_missing", headers={"X-Correlation-ID": "log-check-1"})
        deadline = time.monotonic() + 5
        entries: list[dict[str, object]] = []
        while not entries and time.monotonic() < deadline:
            entries = [
                json.loads(line)
                for line in proc.output().splitlines()
                if line.startswith("{") and "log-check-1" in line
            ]
            time.sleep(0.05)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["logger"] == "gateway.access"
    assert entry["correlation_id"] == "log-check-1"
    assert (entry["status"], entry["operation"], entry["client_id"]) == (
        404,
        "customers.read",
        "crm-demo",
    )
    assert isinstance(entry["duration_ms"], float)


def test_sighup_reloads_policies_in_a_running_gateway(
    gateway_env: dict[str, str], tmp_path: Path, token: str
) -> None:
    config_dir = write_config(tmp_path)
    # The file watcher is off, so only the signal can make this reload happen.
    env = {**gateway_env, "GATEWAY_CONFIG_DIR": str(config_dir), "GATEWAY_CONFIG_POLL": "0"}
    with start_gateway(env) as (url, proc), client_for(url, token) as api:
        customer = create_customer(api, "DE01")
        with client_for(url, token_for("crm-emea", config_dir)) as emea:
            assert emea.get(f"/v1/customers/{customer['id']}").status_code == 200
            clients = config_dir / "policies" / "clients.yaml"
            clients.write_text(
                clients.read_text().replace(
                    "legal_entities: [DE01, FR01, GB01]", "legal_entities: [GB01]"
                )
            )
            proc.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            status = 200
            while status == 200 and time.monotonic() < deadline:
                status = emea.get(f"/v1/customers/{customer['id']}").status_code
                time.sleep(0.05)
            assert status == 404  # DE01 is no longer this client's to see
