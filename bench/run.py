"""Load benchmark: the gateway and both simulators as processes, driven over loopback.

Not a test: it reports throughput, latency percentiles and the gateway's CPU cost per request
(user + system time of the gateway process divided by requests served), the figure DESIGN.md
sets for the ERP client on the request path; then the same creates on a gateway with the
journal off (policies/operations.yaml), and what journaling and auditing each create costs:
the difference. Run with `make bench` (or `python -m bench.run`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from gateway.config.loader import load_config
from gateway.demo import SIMULATOR_CREDENTIALS, demo_issuer, mint_token
from tests.configs import write_config
from tests.servers import PYTHON, free_port, run_process

# Limits far above what one machine can send: the benchmark measures the gateway, not a 429.
BENCH_RATE_LIMITS = """
tiers:
  standard: {rate_per_s: 1000000, burst: 1000000}
backends:
  legacy: {max_rps: 1000000, max_in_flight: 1024}
  cloud: {max_rps: 1000000, max_in_flight: 1024}
"""
# The same gateway without the transaction journal (nor the outcomes' audit entries).
JOURNAL_OFF = """
journal:
  enabled: false
"""
SECRET = "bench-secret-0123456789abcdef0123456789"
CREATE = "create sales order (cloud ERP)"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    scenario: str
    requests: int
    seconds: float
    statuses: dict[int, int]
    latencies_ms: list[float]
    cpu_s: float

    def report(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "scenario": self.scenario,
            "requests": self.requests,
            "rps": round(self.requests / self.seconds, 1),
            "p50_ms": round(statistics.median(lat), 2),
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1], 2),
            "gateway_cpu_ms_per_request": round(1000 * self.cpu_s / self.requests, 3),
            "statuses": self.statuses,
        }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


async def _drive(
    session: aiohttp.ClientSession,
    method: str,
    urls: list[str],
    body: Any,
    concurrency: int,
    key_per_request: bool,
) -> tuple[dict[int, int], list[float], float]:
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    queue = iter(urls)

    async def worker() -> None:
        for url in queue:
            headers = {"Idempotency-Key": uuid.uuid4().hex} if key_per_request else {}
            started = time.perf_counter()
            async with session.request(method, url, json=body, headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses, latencies, time.perf_counter() - started


async def _scenarios(
    base: str,
    version: str,
    token: str,
    pid: int,
    requests: int,
    concurrency: int,
    only: str | None = None,
) -> list[Result]:
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    results = []
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        created = await session.post(f"{base}/{version}/customers", json=_customer(version))
        customer = await created.json()
        order_body = _order(version, customer["id"])
        order = await (
            await session.post(
                f"{base}/{version}/sales-orders",
                json=order_body,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
        ).json()
        plans = [
            ("read sales order (cloud ERP)", "GET", f"{base}/{version}/sales-orders/{order['id']}",
             None, False),
            (CREATE, "POST", f"{base}/{version}/sales-orders", order_body, True),
        ]  # fmt: skip
        for name, method, url, body, keyed in plans:
            if only is not None and name != only:
                continue
            await _drive(session, method, [url] * 200, body, concurrency, keyed)  # warm-up
            cpu_before = _cpu_seconds(pid)
            statuses, latencies, seconds = await _drive(
                session, method, [url] * requests, body, concurrency, keyed
            )
            cpu = _cpu_seconds(pid) - cpu_before
            results.append(Result(name, requests, seconds, statuses, latencies, cpu))
    return results


ADDRESS = {"line1": "1 Main St", "city": "Austin", "postal_code": "78701", "country": "US"}


def _customer(version: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": "BENCH-1",
        "legal_entity": "US01",
        "currency": "USD",
        "payment_terms": "NET30",
        "credit_limit": "100000000.00",
    }
    if version == "v1":
        return {**body, "name": "Bench Corp", "address": ADDRESS}
    return {**body, "legal_name": "Bench Corp", "addresses": [{**ADDRESS, "type": "billing"}]}


def _order(version: str, customer_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": "BENCH-OPP",
        "legal_entity": "US01",
        "customer_id": customer_id,
        "currency": "USD",
        "requested_delivery_date": "2026-12-15",
    }
    if version == "v1":
        return {**body, "lines": [{"sku": "WIDGET-1", "quantity": 1, "unit_price": "19.99"}]}
    price = {"amount": "19.99", "currency": "USD"}
    return {**body, "items": [{"product_id": "WIDGET-1", "quantity": 1, "price": price}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--redis-url", default=os.environ.get("GATEWAY_REDIS_URL", ""))
    parser.add_argument("--api-version", default="v2", choices=["v1", "v2"])
    parser.add_argument(
        "--skip-journal-cost", action="store_true", help="skip the run with the journal off"
    )
    args = parser.parse_args()

    store = "redis" if args.redis_url else "memory"
    results = _run(args, write_config(_fresh_dir(), rate_limits=BENCH_RATE_LIMITS))
    for result in results:
        print(json.dumps({"store": store, "api": args.api_version, **result.report()}))
    if args.skip_journal_cost:
        return
    config = write_config(_fresh_dir(), rate_limits=BENCH_RATE_LIMITS, operations=JOURNAL_OFF)
    (without,) = _run(args, config, only=CREATE)
    print(json.dumps({"store": store, "api": args.api_version, "journal": "off",
                      **without.report()}))  # fmt: skip
    (with_journal,) = [r for r in results if r.scenario == CREATE]
    cost = with_journal.report()["gateway_cpu_ms_per_request"]
    cost -= without.report()["gateway_cpu_ms_per_request"]
    print(json.dumps({"store": store, "journal_and_audit_cpu_ms_per_create": round(cost, 3)}))


def _fresh_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="gateway-bench-"))


def _run(args: argparse.Namespace, config_dir: Path, only: str | None = None) -> list[Result]:
    """Both simulators and one gateway on `config_dir`, driven through the scenarios."""
    legacy_port, cloud_port, port = free_port(), free_port(), free_port()
    legacy, cloud, base = (f"http://127.0.0.1:{p}" for p in (legacy_port, cloud_port, port))
    env = {
        **SIMULATOR_CREDENTIALS,
        "GATEWAY_LEGACY_URL": legacy,
        "GATEWAY_CLOUD_URL": cloud,
        "GATEWAY_DEMO_SECRET": SECRET,
        "GATEWAY_CONFIG_DIR": str(config_dir),
        "GATEWAY_REDIS_URL": args.redis_url,
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    sim = [PYTHON, "-m", "gateway.cli", "simulate"]
    serve = [PYTHON, "-m", "gateway.cli", "serve", "--port", str(port)]
    with (
        run_process(
            [*sim, "legacy", "--port", str(legacy_port)], legacy + "/_sim/stats", expect=200
        ),
        run_process([*sim, "cloud", "--port", str(cloud_port)], cloud + "/_sim/stats", expect=200),
        run_process(serve, base + "/readyz", env=env, expect=200) as gateway,
    ):
        issuer = demo_issuer(load_config(config_dir, env=env).auth)
        token = mint_token(issuer, SECRET, "crm-demo")
        scenarios = _scenarios(
            base, args.api_version, token, gateway.pid, args.requests, args.concurrency, only
        )
        return asyncio.run(scenarios)


if __name__ == "__main__":
    main()
