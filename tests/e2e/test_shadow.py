"""Shadow traffic end to end, on both simulators over real sockets: evidence before a move.

DE01 (legacy) and GB01 (legacy) reads are shadowed to the cloud ERP after their customers were
copied there; the cloud simulator answers one field differently for some DE01 customers, and
the legacy one answers another field differently on every call. FR01 (cloud) order creates are
shadowed to the legacy ERP through its sales-order simulation. The report must show each legal
entity with the match rate the skews imply, the skewed field as a difference, the per-call
field as noise only; clients get the primary's answers, and the legacy ERP holds no new order.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.demo import SIMULATOR_CREDENTIALS
from tests.configs import TEST_SECRET, WIDE_RATE_LIMITS, write_config
from tests.e2e import payloads
from tests.e2e.checks import create_customer, run_migration, stats
from tests.e2e.gateways import client_for, start_gateway, start_simulator, token_for
from tests.redis_server import RedisProcess, redis_server_installed
from tests.servers import run_cli

SHADOW_RULES = """  - id: de01-gb01-shadowed
    match: {legal_entities: [DE01, GB01]}
    backend: legacy
    shadow:
      backend: cloud
      sample: 1.0
      operations: [customers.read]
      noise_sample: 1.0
  - id: fr01-shadowed
    match: {legal_entities: [FR01]}
    backend: cloud
    shadow:
      backend: legacy
      sample: 1.0
      operations: [sales_orders.create, quotes.validate]
      tolerance: {absolute: 0.01}
"""
DE01_SUBSIDIARY = "4"  # backends/cloud.yaml
SKEWED_NAME = "Skewed Corp"
REPORT_DEADLINE_S = 15.0


@pytest.fixture(scope="module")
def shadow_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A gateway of its own, on simulators of its own (their skews must not reach other
    tests), with the shadow rules at the top of routes.yaml."""
    config = write_config(tmp_path_factory.mktemp("shadow-config"), rate_limits=WIDE_RATE_LIMITS)
    routes = (config / "routes.yaml").read_text()
    (config / "routes.yaml").write_text(routes.replace("\nrules:\n", "\nrules:\n" + SHADOW_RULES))
    with start_simulator("legacy") as legacy_url, start_simulator("cloud") as cloud_url:
        yield {
            **SIMULATOR_CREDENTIALS,
            "GATEWAY_LEGACY_URL": legacy_url,
            "GATEWAY_CLOUD_URL": cloud_url,
            "GATEWAY_DEMO_SECRET": TEST_SECRET,
            "GATEWAY_CONFIG_DIR": str(config),
            "GATEWAY_REDIS_URL": "",
        }


@pytest.fixture(scope="module")
def clients(shadow_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    config = Path(shadow_env["GATEWAY_CONFIG_DIR"])
    with (
        start_gateway(shadow_env) as (url, _),
        client_for(url, token_for("crm-demo", config)) as api,
        client_for(url, token_for("ops-admin", config)) as admin,
        httpx.Client(base_url=shadow_env["GATEWAY_LEGACY_URL"], timeout=10) as legacy,
        httpx.Client(base_url=shadow_env["GATEWAY_CLOUD_URL"], timeout=10) as cloud,
    ):
        yield {"api": api, "admin": admin, "legacy": legacy, "cloud": cloud, "config": config}


def _gateway(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    admin = token_for("ops-admin", config)
    return run_cli(*args, "--config-dir", str(config), admin_token=admin)


def _migrate(admin: httpx.Client, legal_entity: str, to: str) -> None:
    job = run_migration(admin, legal_entity, to)
    assert job["status"] == "succeeded" and job["failed"] == 0, job


def _report(admin: httpx.Client, samples: dict[tuple[str, str], int]) -> dict[tuple[str, str], Any]:
    """The report once every scope counted the samples expected (the shadows run after the
    answers, off the request path)."""
    end = time.monotonic() + REPORT_DEADLINE_S
    while True:
        response = admin.get("/admin/shadow/report")
        assert response.status_code == 200, response.text
        scopes = {(s["legal_entity"], s["operation"]): s for s in response.json()["scopes"]}
        if all(scopes.get(k, {}).get("samples", 0) >= n for k, n in samples.items()):
            return scopes
        assert time.monotonic() < end, scopes
        time.sleep(0.1)


def test_the_report_shows_the_skewed_legal_entity_field_and_noise(
    clients: dict[str, Any],
) -> None:
    api, admin, legacy, cloud = (clients[k] for k in ("api", "admin", "legacy", "cloud"))
    de01 = [create_customer(api, "DE01", name=SKEWED_NAME)]
    de01 += [create_customer(api, "DE01") for _ in range(3)]
    gb01 = [create_customer(api, "GB01") for _ in range(2)]
    _migrate(admin, "DE01", "cloud")
    _migrate(admin, "GB01", "cloud")
    assert admin.delete("/admin/shadow/report").status_code == 204
    skews = [
        # the cloud ERP maps one field differently, for one DE01 customer only
        ("cloud", {"field": "email", "where": {"subsidiary.id": DE01_SUBSIDIARY,
                                               "companyName": SKEWED_NAME}}),
        # the legacy ERP answers a field differently on every call, like a timestamp
        ("legacy", {"field": "SearchTerm1", "mode": "per_call"}),
    ]  # fmt: skip
    for sim, skew in skews:
        assert clients[sim].post("/_sim/skews", json=skew).status_code == 200
    try:
        reads = [(c, api.get(f"/v1/customers/{c['id']}")) for c in de01 + gb01]
        report = _report(admin, {("DE01", "customers.read"): 4, ("GB01", "customers.read"): 2})
    finally:
        legacy.delete("/_sim/skews")
        cloud.delete("/_sim/skews")

    # Clients got the primary's answers: never the shadow's skewed email.
    for created, read in reads:
        assert read.status_code == 200, read.text
        assert read.json()["email"] == created["email"]

    de = report[("DE01", "customers.read")]
    assert (de["samples"], de["comparable"], de["matches"]) == (4, 4, 3)
    assert de["distinct_records"] == 4  # four customers, each read once
    # by the default bar, four samples of four customers are not enough to decide a move on
    assert (de["evidence"], de["min_comparable"], de["min_records"]) == ("not_enough", 100, 30)
    assert de["match_rate"] == pytest.approx(3 / 4)
    assert [d["field"] for d in de["differences"]] == ["email"]
    assert de["differences"][0]["count"] == 1
    # values are redacted to a type and length (crm-demo may not show its values)
    [example] = de["differences"][0]["examples"]
    assert example["primary"] == f"string({len(de01[0]['email'])})"
    assert example["shadow"] == f"string({len(de01[0]['email']) + len('-skewed')})"
    assert [n["field"] for n in de["noise"]] == ["display_name"]

    gb = report[("GB01", "customers.read")]
    assert (gb["samples"], gb["comparable"], gb["matches"]) == (2, 2, 2)
    assert gb["differences"] == [] and [n["field"] for n in gb["noise"]] == ["display_name"]

    metrics = api.get("/metrics").text
    assert 'gateway_shadow_differences_total{field="email",legal_entity="DE01"' in metrics


def test_shadowed_creates_use_the_simulation_and_create_nothing_in_the_legacy_erp(
    clients: dict[str, Any],
) -> None:
    api, admin, legacy, cloud = (clients[k] for k in ("api", "admin", "legacy", "cloud"))
    customers = [create_customer(api, "FR01") for _ in range(2)]
    _migrate(admin, "FR01", "legacy")
    assert admin.delete("/admin/shadow/report").status_code == 204
    legacy_before, cloud_before = stats(legacy), stats(cloud)
    statuses = []
    for customer in customers:
        response = api.post(
            "/v1/sales-orders",
            json=payloads.order("FR01", customer["id"]),
            headers=payloads.new_key(),
        )
        statuses.append(response.status_code)
        assert response.json()["status"] == "accepted", response.text
    refused = api.post(
        "/v1/sales-orders",
        json=payloads.order(
            "FR01", customers[0]["id"], lines=[{"sku": "NOPE-1", "quantity": 1,
                                                "unit_price": "1.00"}]
        ),
        headers=payloads.new_key(),
    )  # fmt: skip
    quote = api.post(
        "/v1/quotes/validate",
        json={
            "legal_entity": "FR01",
            "customer_id": customers[1]["id"],
            "currency": "EUR",
            "lines": [{"sku": "SUPPORT-1Y", "quantity": 50, "unit_price": "1200.00"}],
        },
    )
    report = _report(admin, {("FR01", "sales_orders.create"): 3, ("FR01", "quotes.validate"): 1})

    assert statuses == [201, 201] and refused.status_code == 422
    assert refused.json()["code"] == "unknown_sku"
    fr = report[("FR01", "sales_orders.create")]
    # both ERPs decide alike: accepted at the same prices, refused for the same reason
    assert (fr["samples"], fr["comparable"], fr["matches"]) == (3, 3, 3), fr
    assert fr["distinct_records"] == 2  # three creates, for two customers
    # a quote over the credit limit: both would block it on credit, at the same prices
    assert quote.status_code == 200 and quote.json()["credit_check"] == "would_block"
    quoted = report[("FR01", "quotes.validate")]
    assert (quoted["samples"], quoted["comparable"], quoted["matches"]) == (1, 1, 1), quoted
    # the orders exist in the cloud ERP only: the legacy ERP simulated, it created nothing
    assert stats(cloud)["sales_orders"] - cloud_before["sales_orders"] == 2
    assert stats(legacy)["sales_orders"] == legacy_before["sales_orders"]

    # The operator's commands say the same.
    url, config = str(api.base_url), Path(clients["config"])
    printed = _gateway("shadow", "report", "--url", url, config=config)
    assert printed.returncode == 0, printed.stderr
    assert (
        "FR01 sales_orders.create: 3 samples, 3 comparable of 2 customers, match rate 100.0 % "
        "(3 of 3)"
    ) in printed.stdout
    back = config / "routes.back.yaml"
    back.write_text(
        (config / "routes.yaml")
        .read_text()
        .replace("backend: cloud\n    shadow:", "backend: legacy\n    shadow:")
    )
    planned = _gateway(
        "plan", str(config / "routes.yaml"), str(back), "--shadow", "--url", url, config=config
    )
    assert planned.returncode == 0, planned.stderr
    assert (
        "FR01 every operation: cloud -> legacy at once (rule fr01-shadowed); "
        "shadow match rate quotes.validate 100.0 % (1 of 1 sample, 1 customer: not enough "
        "evidence), sales_orders.create 100.0 % (3 of 3 samples, 2 customers: not enough "
        "evidence); "
        "no comparable sample of customers.read, sales_orders.read"
    ) in planned.stdout


def test_two_gateway_processes_on_one_redis_keep_one_report(
    shadow_env: dict[str, str],
) -> None:
    if not redis_server_installed():
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    config = Path(shadow_env["GATEWAY_CONFIG_DIR"])
    with RedisProcess() as redis:
        redis.start()
        env = {**shadow_env, "GATEWAY_REDIS_URL": redis.url}
        with (
            start_gateway(env) as (first_url, _),
            start_gateway(env) as (second_url, _),
            client_for(first_url, token_for("crm-demo", config)) as first,
            client_for(second_url, token_for("crm-demo", config)) as second,
            client_for(second_url, token_for("ops-admin", config)) as admin,
        ):
            customers = [create_customer(first, "GB01") for _ in range(3)]
            _migrate(admin, "GB01", "cloud")
            reads = [
                api.get(f"/v1/customers/{c['id']}") for c in customers for api in (first, second)
            ]
            report = _report(admin, {("GB01", "customers.read"): len(reads)})
    assert all(r.status_code == 200 for r in reads)
    gb = report[("GB01", "customers.read")]
    # every sample of both processes, in one report, whichever process is asked
    assert (gb["samples"], gb["comparable"]) == (6, 6), gb
    # each customer read once through each process: three customers, counted once across both
    assert gb["distinct_records"] == 3, gb
    # (the cloud ERP's adapter keeps no display name, SAP's search term: a real difference in
    # every sample, that the first test's per-call skew had turned into noise)
    assert [(d["field"], d["count"]) for d in gb["differences"]] == [("display_name", 6)]
