"""What shadow traffic costs the primary: one gateway (memory store, one worker) reading a US01
customer and order (v2), with routes.yaml switched by reloads between no shadow and a rule
that shadows a share of those reads to the legacy ERP (the customer copied there first, so that
its reads are compared; the order lives in the cloud ERP only, so its samples are counted as
not comparable), in alternating rounds so that the shared machine's drift hits both alike.
Each run is paced at half the shadow-off saturated rate: its p50 is the latency a client sees;
the CPU per request shows what the shadow takes.

Not a test and not part of `make bench`'s table (its rows and README section are the request
path's); run with `make bench-shadow` (`SHADOW_ARGS="--sample 1 --rounds 5"`, ...).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench import debian
from bench.results import GATEWAY, MEMORY, Run
from bench.run import (
    BENCH_RATE_LIMITS,
    CLIENT,
    CONNECTIONS,
    HALF,
    SCOPES,
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


def shadow_rule(sample: float | None) -> str:
    """The US01 rule, shadowing its reads to the legacy ERP (None: no shadow at all)."""
    rule = """  - id: us01-shadowed
    match: {legal_entities: [US01]}
    backend: cloud
"""
    if sample is None:
        return rule
    return (
        rule
        + f"""    shadow: {{backend: legacy, sample: {sample}, noise_sample: 0, max_in_flight: 64,
              operations: [customers.read, sales_orders.read]}}
"""
    )


def _config(work: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix="config-", dir=work))
    config = write_config(target, resilience={}, rate_limits=BENCH_RATE_LIMITS)
    routes = config / "routes.yaml"
    base = routes.read_text()
    (config / "routes.base.yaml").write_text(base)
    return config


def _switch(base_url: str, config: Path, sample: float | None, admin: str) -> None:
    """routes.yaml with (or without) the shadow, reloaded now."""
    base = (config / "routes.base.yaml").read_text()
    routes = base.replace("\nrules:\n", "\nrules:\n" + shadow_rule(sample), 1)
    (config / "routes.yaml").write_text(routes)
    answer = httpx.post(
        f"{base_url}/admin/config/reload",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    answer.raise_for_status()


def _tokens(config: Path, env: dict[str, str]) -> tuple[str, str]:
    issuer = demo_issuer(load_config(config, env=env).auth)
    return mint_token(issuer, SECRET, CLIENT, SCOPES), mint_token(issuer, SECRET, ADMIN)


def _reads(base_url: str, token: str, admin: str) -> list[Scenario]:
    """A US01 customer (copied to the legacy ERP) and an order, created through the gateway;
    the reads of both."""
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
        operator = {"Authorization": f"Bearer {admin}"}
        started = client.post(
            "/admin/migrations", json={"legal_entity": "US01", "to": "legacy"}, headers=operator
        )
        end = time.monotonic() + JOB_DEADLINE_S
        location = started.headers["location"]
        while client.get(location, headers=operator).json()["status"] == "running":
            if time.monotonic() > end:
                raise RuntimeError("the copy of the customer to the legacy ERP did not end")
            time.sleep(0.1)
    reads = {**ACCEPT, **auth}
    return [
        Scenario("GET customer v2", Load("GET", f"/v2/customers/{customer}", reads)),
        Scenario("GET sales order v2", Load("GET", f"/v2/sales-orders/{order}", reads)),
    ]


def _legacy_requests(legacy_url: str) -> int:
    count: int = httpx.get(f"{legacy_url}/_sim/stats", timeout=10).json()["requests"]
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shadow_cost", description=__doc__)
    parser.add_argument("--sample", type=float, default=0.25, help="the shadow's sample")
    parser.add_argument("--seconds", type=int, default=5, help="a measured run")
    parser.add_argument("--rounds", type=int, default=3, help="off/on rounds per read")
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
    variants: tuple[tuple[str, float | None], ...] = (("off", None), ("on", args.sample))
    lines = []
    try:
        # The simulators share wrk's core: the gateway's core is its own, so that what the
        # shadow costs the primary is the gateway's doing, not the shadow ERP's.
        with simulators(pins.load) as (cloud, cloud_pid, legacy):
            env = {
                **SIMULATOR_CREDENTIALS,
                "GATEWAY_DEMO_SECRET": SECRET,
                "GATEWAY_LEGACY_URL": legacy,
                "GATEWAY_CLOUD_URL": cloud,
                "GATEWAY_CONFIG_POLL": "0",  # switched by explicit reloads only
            }
            bench = Bench(
                args, run, now.strftime("%Y-%m-%d-%H%M%S"), pins, [wrk.path], work,
                args.seconds, env, cloud, cloud_pid,
            )  # fmt: skip
            bench.config_dir = config = _config(work)
            token, admin = _tokens(config, env)
            with bench.gateway(MEMORY, 1) as (base, pid):
                _switch(base, config, None, admin)
                for scenario in _reads(base, token, admin):
                    saturated = bench.measure(Subject(GATEWAY, MEMORY), scenario, base, pid)
                    rate = HALF * saturated.rps
                    runs: dict[str, list[tuple[float, float, float, float]]] = {}
                    for _ in range(args.rounds):
                        for label, sample in variants:
                            _switch(base, config, sample, admin)
                            before = _legacy_requests(legacy)
                            row = bench.measure(Subject(GATEWAY, MEMORY), scenario, base, pid, rate)
                            calls = (_legacy_requests(legacy) - before) / max(row.requests, 1)
                            runs.setdefault(label, []).append(
                                (row.p50_ms, row.p99_ms, row.server_cpu_ms, calls)
                            )
                    p50_off = statistics.median(r[0] for r in runs["off"])
                    for label, _ in variants:
                        p50s = [r[0] for r in runs[label]]
                        p50 = statistics.median(p50s)
                        lines.append(
                            f"| {scenario.name} | {label} | {rate:.0f}/s | "
                            f"{', '.join(f'{x:.2f}' for x in p50s)} | {p50:.2f} | "
                            f"{(p50 / p50_off - 1) * 100:+.1f} % | "
                            f"{statistics.median(r[1] for r in runs[label]):.2f} | "
                            f"{statistics.median(r[2] for r in runs[label]):.3f} | "
                            f"{statistics.median(r[3] for r in runs[label]):.2f} |"
                        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pinned = "Here the simulators run on wrk's CPU, not on the gateway's. " if pins.load else ""
    print(f"\n{run.machine}; {pins.words} {pinned}wrk: {args.connections} connections, paced "
          f"at half the saturated rate, {args.seconds} s a run after a {WARMUP_S} s warm-up, "
          f"{args.rounds} rounds of shadow off then on (sample {args.sample:g}).\n")  # fmt: skip
    print("| read | shadow | paced | p50 ms of each round | p50 ms (median) | p50 vs off | "
          "p99 ms (median) | gateway CPU ms/req | legacy requests/req |")  # fmt: skip
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
