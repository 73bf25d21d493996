"""A canary split through the pipeline: each customer's orders stay on one ERP, the share of
customers on each is the split's, a customer created on one ERP is copied on demand to the
ERP its orders are split to, and raising the share moves only new customers' buckets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx

from gateway.config.loader import check_config
from gateway.routing.affinity import bucket_of, customer_bucket
from gateway.store.memory import MemoryStore
from tests.configs import WIDE_RATE_LIMITS, write_config
from tests.e2e import payloads
from tests.harness import ENV, in_process_gateway

CUSTOMERS = 40
ORDERS_EACH = 3


def split_config(tmp_path: Path, cloud: int) -> Path:
    target = tmp_path / f"split-{cloud}"
    target.mkdir()
    config = write_config(target, rate_limits=WIDE_RATE_LIMITS)
    routes = config / "routes.yaml"
    rule = f"""  - id: canary-ca01
    match: {{legal_entities: [CA01]}}
    split: {{cloud: {cloud}, legacy: {100 - cloud}}}
"""
    routes.write_text(routes.read_text().replace("\nrules:\n", "\nrules:\n" + rule, 1))
    return config


async def _orders(api: httpx.AsyncClient, customer_id: str) -> list[str]:
    backends = []
    for _ in range(ORDERS_EACH):
        response = await api.post(
            "/v1/sales-orders",
            json=payloads.order("CA01", customer_id),
            headers=payloads.new_key(),
        )
        assert response.status_code == 201, response.text
        backends.append(response.json()["erp_reference"])
    return backends


async def test_each_customers_orders_stay_on_one_erp_and_the_shares_hold(tmp_path: Path) -> None:
    async with (
        in_process_gateway(MemoryStore(), split_config(tmp_path, 30)) as gw,
        gw.client() as api,
    ):
        placed: dict[str, str] = {}
        for n in range(CUSTOMERS):
            # fixed refs, so the shares are the same every run (random ones missed once in 160)
            body = payloads.customer("CA01", external_ref=f"CRM-ACC-SPLIT-{n}")
            customer = (await api.post("/v1/customers", json=body)).json()
            before = {name: len(erp.orders) for name, erp in gw.erps.items()}
            await _orders(api, customer["id"])
            grew = [name for name, erp in gw.erps.items() if len(erp.orders) > before[name]]
            assert len(grew) == 1, grew  # never alternating between ERPs
            placed[customer["id"]] = grew[0]
            expected = "cloud" if customer_bucket(customer["id"]) < 3000 else "legacy"
            assert grew[0] == expected
        shares = Counter(placed.values())
        assert shares["cloud"] > 0 and shares["legacy"] > shares["cloud"]
        # A customer created on the legacy ERP whose orders the split sends to the cloud is in
        # both ERPs now (copied on demand), and one whose orders stay is not copied.
        cloud_customers = {c.gateway_ref for c in gw.erps["cloud"].customers.values()}
        assert len(cloud_customers) >= shares["cloud"]


async def test_a_split_naming_an_unknown_backend_is_refused_at_its_line(tmp_path: Path) -> None:
    config = split_config(tmp_path, 10)
    routes = config / "routes.yaml"
    routes.write_text(routes.read_text().replace("split: {cloud: 10", "split: {clod: 10", 1))
    issues = [i for i in check_config(config, env=ENV) if i.severity == "error"]
    assert [(i.file, i.message) for i in issues] == [
        ("routes.yaml", "unknown backend 'clod' in the split (known: cloud, legacy)")
    ]
    assert issues[0].line is not None


def _ref_in_share(cloud_percent: int) -> str:
    """A new customer's external_ref whose bucket falls in the cloud's share of the split."""
    while True:
        ref = payloads.unique_ref("CRM-ACC")
        if bucket_of(ref) < cloud_percent * 100:
            return ref


async def test_a_customers_orders_go_to_the_erp_it_was_created_on_without_a_copy(
    tmp_path: Path,
) -> None:
    cloud_percent = 10
    async with (
        in_process_gateway(MemoryStore(), split_config(tmp_path, cloud_percent)) as gw,
        gw.client() as api,
    ):
        # A customer whose external_ref puts it in the cloud's share and whose gateway id,
        # hashed, would not (the id is only known once it is created: made until one is).
        for _ in range(50):
            created = await api.post(
                "/v1/customers",
                json=payloads.customer("CA01", external_ref=_ref_in_share(cloud_percent)),
            )
            assert created.status_code == 201, created.text
            customer = created.json()
            if bucket_of(customer["id"]) >= cloud_percent * 100:
                break
        else:
            raise AssertionError("no customer whose gateway id falls outside the cloud's share")
        cloud, legacy = gw.erps["cloud"], gw.erps["legacy"]
        assert not legacy.customers  # every one was created on the cloud ERP, as its share says
        created_on_cloud = len(cloud.customers)

        await _orders(api, customer["id"])

        assert len(cloud.orders) == ORDERS_EACH and not legacy.orders
        assert len(legacy.customers) == 0  # never copied to the legacy ERP
        assert len(cloud.customers) == created_on_cloud
