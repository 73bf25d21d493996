"""A wave under live CRM traffic, end to end on both simulators: CA01's customers are migrated
by a job, a freeze and then a wave a few seconds ahead are written to routes.yaml while a steady
stream of creates and reads runs; then the wave is given an end and new orders go back.

Nothing may fail but the frozen writes (503, retried with the same key until they pass),
nothing may be created twice, and no order may be read from the wrong ERP. Once on the memory
store with one gateway, once on Redis with two gateway processes sharing the work.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from redis import Redis

from tests.configs import write_config
from tests.e2e import payloads
from tests.e2e.checks import JOB_DEADLINE_S, run_migration, stats
from tests.e2e.gateways import client_for, start_gateway, token_for
from tests.redis_server import RedisProcess

DEBUG_CLIENT = """
  - id: crm-wave
    scopes: [customers:write, customers:read, sales_orders:write, sales_orders:read,
             gateway:debug]
    legal_entities: "*"
    rate_limit: standard
"""
CUSTOMERS = 4
LEAD_S = 4.0  # the freeze starts this far ahead of writing it (two reload polls and margin)
FREEZE_S = 3.0
MARGIN_S = 0.5  # requests this close to a boundary are not judged by their send time


def _own_database(redis: RedisProcess) -> str:
    """A database of the private Redis for this module alone, emptied: other end-to-end tests
    share the server (its database 0), and their leases and records must not meet these."""
    url = redis.url.rsplit("/", 1)[0] + "/3"
    with Redis.from_url(url) as client:
        client.flushdb()
    return url


def _rfc3339(instant: float) -> str:
    return dt.datetime.fromtimestamp(instant, dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class Placed:
    """An order as the stream placed it: when it was first sent, where it landed."""

    order_id: str
    sent_at: float
    backend: str
    frozen_first: bool = False


@dataclass
class Traffic:
    """A steady stream of CA01 orders (retrying frozen ones, as a CRM does) and reads of the
    orders placed so far, spread over the gateways, until told to stop."""

    apis: list[httpx.Client]
    customers: list[str]
    placed: list[Placed] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    frozen: int = 0
    reads: int = 0
    misread: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        turns = itertools.count()
        while not self.stop.is_set():
            turn = next(turns)
            api = self.apis[turn % len(self.apis)]
            self._create(api, self.customers[turn % len(self.customers)])
            if self.placed:
                self._read(
                    self.apis[(turn + 1) % len(self.apis)], self.placed[turn % len(self.placed)]
                )
            time.sleep(0.03)

    def _create(self, api: httpx.Client, customer_id: str) -> None:
        body = payloads.order("CA01", customer_id)
        key = payloads.new_key()
        sent_at = time.time()
        frozen_first = False
        while True:
            response = api.post("/v1/sales-orders", json=body, headers=key)
            if response.status_code == 503 and response.json()["code"] == "legal_entity_frozen":
                assert int(response.headers["retry-after"]) >= 1
                frozen_first = True
                self.frozen += 1
                time.sleep(0.2)  # well within Retry-After's whole seconds: try again soon
                continue
            break
        if response.status_code != 201:
            self.failures.append(f"create {response.status_code}: {response.text[:200]}")
            return
        backend = response.headers["x-gateway-backend"]
        self.placed.append(Placed(response.json()["id"], sent_at, backend, frozen_first))

    def _read(self, api: httpx.Client, placed: Placed) -> None:
        response = api.get(f"/v1/sales-orders/{placed.order_id}")
        self.reads += 1
        if response.status_code != 200:
            self.failures.append(f"read {response.status_code}: {response.text[:200]}")
        elif response.headers["x-gateway-backend"] != placed.backend:
            self.misread.append(placed.order_id)


@contextlib.contextmanager
def traffic(apis: list[httpx.Client], customers: list[str]) -> Iterator[Traffic]:
    stream = Traffic(apis, customers)
    thread = threading.Thread(target=stream.run, daemon=True)
    thread.start()
    try:
        yield stream
    finally:
        stream.stop.set()
        thread.join(timeout=30)


def _write_routes(config: Path, rules: str, freezes: str) -> None:
    """routes.yaml with `rules` first and `freezes`, replaced in one rename (never half read)."""
    routes = config / "routes.yaml"
    base = (config / "routes.base.yaml").read_text()
    text = base.replace("\nrules:\n", "\nrules:\n" + rules, 1).replace("freezes: []\n", freezes, 1)
    staging = config / "routes.yaml.new"
    staging.write_text(text)
    staging.replace(routes)


RELOAD_S = 3.0  # "within 2 s", with room for a loaded machine


def _versions(opses: list[httpx.Client]) -> list[str]:
    """The configuration version each gateway serves."""
    return [ops.get("/admin/config").json()["version"] for ops in opses]


def _serving(opses: list[httpx.Client], versions: list[str]) -> None:
    """Wait until every gateway serves a configuration other than its own of `versions` (each
    reloads on its own: orders sent to one still serving the old rules would be misplaced)."""
    end = time.monotonic() + RELOAD_S
    for ops, version in zip(opses, versions, strict=True):
        while ops.get("/admin/config").json()["version"] == version:
            assert time.monotonic() < end, f"the edited routes.yaml not served in {RELOAD_S} s"
            time.sleep(0.05)


@pytest.fixture
def wave_config(tmp_path: Path) -> Path:
    config = write_config(tmp_path, clients=DEBUG_CLIENT)
    (config / "routes.base.yaml").write_text((config / "routes.yaml").read_text())
    return config


@pytest.fixture(params=["memory", "redis"])
def gateways(
    request: pytest.FixtureRequest,
    gateway_env: dict[str, str],
    wave_config: Path,
) -> Iterator[list[str]]:
    env = {**gateway_env, "GATEWAY_CONFIG_DIR": str(wave_config)}
    if request.param == "memory":
        with start_gateway(env) as (url, _):
            yield [url]
        return
    env["GATEWAY_REDIS_URL"] = _own_database(request.getfixturevalue("private_redis"))
    with start_gateway(env) as (first, _), start_gateway(env) as (second, _):
        yield [first, second]


def test_a_wave_under_live_traffic_moves_new_orders_and_nothing_fails_twice(
    gateways: list[str], wave_config: Path, sims: dict[str, httpx.Client]
) -> None:
    wave_token = token_for("crm-wave", wave_config)
    admin_token = token_for("ops-admin", wave_config)
    apis = [client_for(url, wave_token) for url in gateways]
    opses = [client_for(url, admin_token) for url in gateways]
    ops = opses[0]
    cloud = sims["cloud"]
    try:
        customers = []
        for n in range(CUSTOMERS):
            created = apis[n % len(apis)].post("/v1/customers", json=payloads.customer("CA01"))
            assert created.status_code == 201 and created.headers["x-gateway-backend"] == "legacy"
            customers.append(created.json()["id"])
        before = {name: stats(sim) for name, sim in sims.items()}

        with traffic(apis, customers) as stream:
            # 1. The customers go first, by a job, while orders keep coming to the legacy ERP.
            job = run_migration(ops, "CA01", "cloud")
            assert (job["status"], job["done"], job["failed"]) == ("succeeded", CUSTOMERS, 0)
            assert stats(cloud)["customers"] - before["cloud"]["customers"] == CUSTOMERS

            # 2. A freeze, then the wave, a few seconds ahead, written to routes.yaml.
            versions = _versions(opses)
            freeze_at = time.time() + LEAD_S
            wave_at = freeze_at + FREEZE_S
            wave = (
                "  - id: ca01-wave\n    match: {legal_entities: [CA01]}\n    backend: cloud\n"
                f"    effective_from: {_rfc3339(wave_at)}\n"
            )
            freeze = (
                f"freezes:\n  - {{id: ca01-cutover, legal_entities: [CA01], "
                f"from: {_rfc3339(freeze_at)}, until: {_rfc3339(wave_at)}, "
                'reason: "CA01 is moving to the cloud ERP"}\n'
            )
            _write_routes(wave_config, wave, freeze)
            _serving(opses, versions)
            assert time.time() < freeze_at - MARGIN_S, "too slow to write the wave ahead of time"
            while time.time() < wave_at + 2.0:
                time.sleep(0.1)

            # 3. During the wave, a customer created in the cloud ERP only.
            created = apis[0].post("/v1/customers", json=payloads.customer("CA01"))
            assert created.status_code == 201 and created.headers["x-gateway-backend"] == "cloud"
            cloud_only = created.json()["id"]

            # 4. The wave is given an end: new orders go back to the legacy ERP.
            versions = _versions(opses)
            back_at = time.time() + 2.5
            ending = wave.replace(
                f"effective_from: {_rfc3339(wave_at)}\n",
                f"effective_from: {_rfc3339(wave_at)}\n    effective_until: {_rfc3339(back_at)}\n",
            )
            _write_routes(wave_config, ending, freeze)
            _serving(opses, versions)
            while time.time() < back_at + 1.5:
                time.sleep(0.1)
        stream_placed = list(stream.placed)

        back = apis[-1].post(
            "/v1/sales-orders",
            json=payloads.order("CA01", cloud_only),
            headers=payloads.new_key(),
        )
        assert back.status_code == 201, back.text
        assert back.headers["x-gateway-backend"] == "legacy"  # the customer copied on demand

        # Nothing failed but the frozen writes, which went through when retried.
        assert stream.failures == []
        assert stream.frozen > 0
        assert any(p.frozen_first for p in stream_placed)
        # Every order landed where the rules said at the second it was sent.
        for placed in stream_placed:
            if placed.sent_at < freeze_at - MARGIN_S or placed.sent_at > back_at + MARGIN_S:
                assert placed.backend == "legacy", placed
            elif wave_at + MARGIN_S < placed.sent_at < back_at - MARGIN_S:
                assert placed.backend == "cloud", placed
        counts = {b: sum(p.backend == b for p in stream_placed) for b in ("legacy", "cloud")}
        assert counts["legacy"] > 0 and counts["cloud"] > 0
        # Every order read came from where it lives, before, during and after the wave.
        assert stream.misread == [] and stream.reads > 0
        # Each ERP holds exactly one document per order placed there: no retry created twice.
        after = {name: stats(sim) for name, sim in sims.items()}
        assert after["cloud"]["sales_orders"] - before["cloud"]["sales_orders"] == counts["cloud"]
        assert (
            after["legacy"]["sales_orders"] - before["legacy"]["sales_orders"]
            == counts["legacy"] + 1
        )
        # The cloud-only customer was copied to the legacy ERP once, for its order.
        assert after["legacy"]["customers"] - before["legacy"]["customers"] == 1
    finally:
        for client in (*apis, *opses):
            client.close()


def test_a_migration_interrupted_by_a_killed_gateway_and_run_again_copies_each_customer_once(
    gateway_env: dict[str, str],
    wave_config: Path,
    private_redis: RedisProcess,
    sims: dict[str, httpx.Client],
) -> None:
    env = {
        **gateway_env,
        "GATEWAY_CONFIG_DIR": str(wave_config),
        "GATEWAY_REDIS_URL": _own_database(private_redis),
    }
    admin_token = token_for("ops-admin", wave_config)
    count = 48
    cloud = sims["cloud"]
    with start_gateway(env) as (survivor_url, _), client_for(survivor_url, admin_token) as ops:
        with client_for(survivor_url, token_for("crm-demo", wave_config)) as api:
            customers = []
            for _ in range(count):
                created = api.post("/v1/customers", json=payloads.customer("CA01"))
                assert created.status_code == 201, created.text
                customers.append(created.json()["id"])
        before = stats(cloud)["customers"]
        # Each copy takes a while, so that the job is killed half-way.
        slow = {"mode": "latency", "latency_ms": 400, "operations": ["customers.create"]}
        assert cloud.post("/_sim/faults", json=slow).status_code in (200, 201)
        with (
            start_gateway(env) as (doomed_url, doomed),
            client_for(doomed_url, admin_token) as first,
        ):
            started = first.post("/admin/migrations", json={"legal_entity": "CA01", "to": "cloud"})
            assert started.status_code == 202, started.text
            location = started.headers["location"]
            end = time.monotonic() + JOB_DEADLINE_S
            while ops.get(location).json()["done"] < 4:  # seen from the other process
                assert time.monotonic() < end
                time.sleep(0.05)
            doomed.proc.kill()
            doomed.proc.wait(timeout=10)
        interrupted = ops.get(location).json()
        assert interrupted["status"] == "running" and interrupted["done"] < count
        cloud.delete("/_sim/faults")
        # The operator runs it again, on the gateway that is still up.
        job = run_migration(ops, "CA01", "cloud")
        assert (job["status"], job["done"], job["failed"]) == ("succeeded", count, 0), job
        assert stats(cloud)["customers"] - before == count  # each copied exactly once
        exported = ops.get("/admin/xref/export", params={"legal_entity": "CA01"})
        in_cloud = {
            line.split(",")[1] for line in exported.text.splitlines()[1:] if ",cloud," in line
        }
        assert in_cloud >= set(customers)
