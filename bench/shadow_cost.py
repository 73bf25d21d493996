"""What shadow traffic costs the primary: the gateway (memory store, one worker) reading a US01
customer and order (v2) without a shadow, then with a rule that shadows a share of those reads
to the legacy ERP (the customer copied there first, so that its reads are compared; the order
lives in the cloud ERP only, so its samples are counted as not comparable). Each read saturated
(wrk's connections, closed loop) and paced at half the shadow-off saturated rate: the paced p50
is the latency a client sees; the saturated rate shows the CPU the shadow takes.

Not a test and not part of `make bench`'s table (its rows and README section are the request
path's); run with `make bench-shadow` (`SHADOW_ARGS="--sample 1"`, `--seconds 8`, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench import debian
from bench.results import GATEWAY, MEMORY, Run
from bench.run import (
    BENCH_RATE_LIMITS,
    CLIENT,
    CONNECTIONS,
    HALF,
    SECRET,
    WARMUP_S,
    Bench,
    Pins,
    Subject,
    machine,
    simulators,
)
from bench.scenarios import ACCEPT, WRITE_VERSION, Scenario, customer_body, order_body
from bench.wrk import Load
from gateway.config.loader import load_config
from gateway.demo import SIMULATOR_CREDENTIALS, demo_issuer, mint_token
from tests.configs import write_config

ADMIN = "ops-admin"
JOB_DEADLINE_S = 30.0


def shadow_rule(sample: float) -> str:
    return f"""  - id: us01-shadowed
    match: {{legal_entities: [US01]}}
    backend: cloud
    shadow: {{backend: legacy, sample: {sample}, operations: [customers.read, sales_orders.read],
              noise_sample: 0, max_in_flight: 64}}
"""


def _config(work: Path, rule: str | None) -> Path:
    target = Path(tempfile.mkdtemp(prefix="config-", dir=work))
    config = write_config(target, resilience={}, rate_limits=BENCH_RATE_LIMITS)
    if rule is not None:
        routes = config / "routes.yaml"
        routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + rule, 1))
    return config


def _reads(base_url: str, config: Path, env: dict[str, str]) -> list[Scenario]:
    """A US01 customer (copied to the legacy ERP) and an order, created through the gateway;
    the reads of both."""
    issuer = demo_issuer(load_config(config, env=env).auth)
    token, admin = (mint_token(issuer, SECRET, client) for client in (CLIENT, ADMIN))
    with httpx.Client(base_url=base_url, timeout=10) as client:
        auth = {"Authorization": f"Bearer {token}"}
        answer = client.post(
            f"/{WRITE_VERSION}/customers",
            json=customer_body(WRITE_VERSION, "BENCH-SHADOW"),
            headers=auth,
        )
        customer = answer.json()["id"]
        answer = client.post(
            f"/{WRITE_VERSION}/sales-orders",
            json=order_body(WRITE_VERSION, customer, "BENCH-SHADOW"),
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        order = answer.json()["id"]
        started = client.post(
            "/admin/migrations",
            json={"legal_entity": "US01", "to": "legacy"},
            headers={"Authorization": f"Bearer {admin}"},
        )
        end = time.monotonic() + JOB_DEADLINE_S
        location = started.headers["location"]
        while client.get(location, headers={"Authorization": f"Bearer {admin}"}).json()[
            "status"
        ] == "running" and (time.monotonic() < end):
            time.sleep(0.1)
    reads = {**ACCEPT, **auth}
    return [
        Scenario("GET customer v2", Load("GET", f"/v2/customers/{customer}", reads)),
        Scenario("GET sales order v2", Load("GET", f"/v2/sales-orders/{order}", reads)),
    ]


def _legacy_requests(legacy_url: str) -> int:
    count: int = httpx.get(f"{legacy_url}/_sim/stats", timeout=10).json()["requests"]
    return count


@contextlib.contextmanager
def _gateway(bench: Bench, config: Path) -> Iterator[tuple[str, int]]:
    bench.config_dir = config
    with bench.gateway(MEMORY, 1) as served:
        yield served


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shadow_cost", description=__doc__)
    parser.add_argument("--sample", type=float, default=0.25, help="the shadow's sample")
    parser.add_argument("--seconds", type=int, default=5, help="a scenario's measured run")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="wrk's connections")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    wrk = debian.ensure("wrk", "wrk")
    if wrk.path is None:
        print(f"bench: cannot run without wrk: {wrk.note}", file=sys.stderr)
        return 1
    taskset = debian.ensure("taskset", "util-linux")
    pins = Pins.for_machine(taskset.path)
    now = dt.datetime.now(dt.UTC)
    run = Run(machine=machine(), command="make bench-shadow", date=str(now), setup="", notes=[])
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-shadow-"))
    lines = []
    try:
        with simulators() as (cloud, cloud_pid, legacy):
            env = {
                **SIMULATOR_CREDENTIALS,
                "GATEWAY_DEMO_SECRET": SECRET,
                "GATEWAY_LEGACY_URL": legacy,
                "GATEWAY_CLOUD_URL": cloud,
            }
            bench = Bench(
                args, run, now.strftime("%Y-%m-%d-%H%M%S"), pins, [wrk.path], work,
                args.seconds, env, cloud, cloud_pid,
            )  # fmt: skip
            paced: dict[str, float] = {}  # by scenario: half the shadow-off saturated rate
            variants = (("off", None), (f"on, sample {args.sample:g}", shadow_rule(args.sample)))
            for label, rule in variants:
                config = _config(work, rule)
                with _gateway(bench, config) as (base, pid):
                    for scenario in _reads(base, config, env):
                        for saturated in (True, False):
                            rps = None if saturated else paced[scenario.name]
                            before = _legacy_requests(legacy)
                            row = bench.measure(Subject(GATEWAY, MEMORY), scenario, base, pid, rps)
                            calls = (_legacy_requests(legacy) - before) / max(row.requests, 1)
                            paced.setdefault(scenario.name, HALF * row.rps)
                            how = "saturated" if rps is None else f"paced {rps:.0f}/s"
                            lines.append(
                                f"| {scenario.name} | {label} | {how} | {row.rps:.0f} | "
                                f"{row.p50_ms:.2f} | {row.p99_ms:.2f} | "
                                f"{row.server_cpu_ms:.3f} | {calls:.2f} |"
                            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{run.machine}; {pins.words} wrk: {args.connections} connections, "
          f"{args.seconds} s after a {WARMUP_S} s warm-up.\n")  # fmt: skip
    print("| read | shadow | load | req/s | p50 ms | p99 ms | gateway CPU ms/req | legacy "
          "requests/req |")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|---:|")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
