"""Rate limits through the pipeline, on each store: GCRA per client, headers, ERP budgets."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.config.issues import ConfigError
from gateway.config.loader import check_config
from gateway.config.rate_limits import TierConfig
from gateway.pipeline.ratelimit import limit_header, policy_header
from gateway.store.base import RateDecision, Store, StoreUnavailable
from gateway.store.memory import MemoryStore
from tests.configs import write_config
from tests.conftest import Clock
from tests.e2e import payloads
from tests.harness import ENV, in_process_gateway

RATE_LIMITS = """
tiers:
  standard: {rate_per_s: 2, burst: 5}
backends:
  legacy: {max_rps: 1000, max_in_flight: 3}
  cloud: {max_rps: 1000, max_in_flight: 3}
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return write_config(tmp_path, rate_limits=RATE_LIMITS)


def test_headers_follow_the_ratelimit_draft() -> None:
    tier = TierConfig(rate_per_s=2, burst=5)
    assert policy_header("standard", tier) == '"standard";q=5;w=3'
    decision = RateDecision(allowed=True, remaining=3, retry_after_s=0, reset_after_s=1.2)
    assert limit_header("standard", decision) == '"standard";r=3;t=2'


async def test_exactly_burst_requests_pass_then_429_with_retry_after(
    store: Store, clock: Clock, config_dir: Path
) -> None:
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        lookups = [
            await api.get("/v1/customers", params={"external_ref": "RL-1"}) for _ in range(6)
        ]
        assert [r.status_code for r in lookups] == [200] * 5 + [429]
        remaining = [r.headers["ratelimit"] for r in lookups[:5]]
        assert [h.split(";")[1] for h in remaining] == ["r=4", "r=3", "r=2", "r=1", "r=0"]
        assert all(r.headers["ratelimit-policy"] == '"standard";q=5;w=3' for r in lookups)
        refused = lookups[5]
        assert refused.headers["retry-after"] == "1"  # one emission interval, 1/rate = 0.5 s
        problem = refused.json()
        assert problem["type"] == "https://iana.org/assignments/http-problem-types#quota-exceeded"
        assert problem["violated-policies"] == ["standard"]
        assert problem["code"] == "rate_limited"
        assert "x-ratelimit-limit" not in refused.headers
        await clock.advance(0.55)
        assert (await api.get("/v1/customers", params={"external_ref": "RL-1"})).status_code == 200


async def test_refused_requests_count_against_the_rate_limit_too(
    store: Store, config_dir: Path
) -> None:
    # Lookups of ids that do not exist (or the client may not see), orders for a legal entity
    # it may not act for, and operations it has no scope for: each costs the gateway a token
    # check and a store lookup, so each counts; the sixth within the burst is a 429.
    async with in_process_gateway(store, config_dir) as gw, gw.client("crm-emea") as emea:
        refusals = [await emea.get(f"/v1/customers/cus_{n:026d}") for n in range(3)] + [
            await emea.post("/v1/customers", json=payloads.customer("DE01")),  # no write scope
            await emea.get("/v1/sales-orders/so_00000000000000000000000000"),
        ]
        assert [r.status_code for r in refusals] == [404, 404, 404, 403, 404]
        over = await emea.get(f"/v1/customers/cus_{9:026d}")
        assert over.status_code == 429
        assert over.json()["code"] == "rate_limited" and over.headers["retry-after"] == "1"


async def test_a_429_for_counted_refusals_carries_the_ratelimit_headers(
    store: Store, config_dir: Path
) -> None:
    # STANDARDS.md: a 429 tells the client its limit (RateLimit-Policy) and where it stands
    # (RateLimit), whichever step counted the request; so does each refusal counted.
    async with in_process_gateway(store, config_dir) as gw, gw.client("crm-emea") as emea:
        answers = [await emea.get(f"/v1/customers/cus_{n:026d}") for n in range(6)]
    assert [a.status_code for a in answers] == [404] * 5 + [429]
    assert all(a.headers.get("ratelimit-policy") == '"standard";q=5;w=3' for a in answers)
    remaining = [a.headers.get("ratelimit", "").split(";")[1:2] for a in answers]
    assert remaining == [["r=4"], ["r=3"], ["r=2"], ["r=1"], ["r=0"], ["r=0"]]


async def test_an_erps_in_flight_budget_sheds_excess_with_503(
    store: Store, config_dir: Path
) -> None:
    async with in_process_gateway(store, config_dir) as gw, gw.client("crm-demo") as api:
        gw.erps["cloud"].delay_s = 0.3
        bodies = [payloads.customer("US01") for _ in range(5)]
        answers = await asyncio.gather(*(api.post("/v1/customers", json=b) for b in bodies))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201, 201, 201, 503, 503]
        shed = [a for a in answers if a.status_code == 503]
        assert all(a.json()["code"] == "erp_unavailable" for a in shed)
        assert all(a.headers["retry-after"] for a in shed)
        assert len(gw.erps["cloud"].customers) == 3


# A client with three requests in all (the rate refills nothing within a test): what the
# gateway refuses for an ERP's capacity must leave all three to it.
THREE_REQUESTS = """
tiers:
  standard: {rate_per_s: 0.000001, burst: 3}
backends:
  legacy: {max_rps: 1000, max_in_flight: 1}
  cloud: {max_rps: 1000, max_in_flight: 1}
"""


async def test_requests_shed_for_an_erps_capacity_do_not_spend_the_clients_rate_limit(
    store: Store, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, rate_limits=THREE_REQUESTS)
    # The cloud ERP's one in-flight slot, held by another gateway process's call.
    assert await store.acquire_slot("erp:cloud:in-flight", 1, "another-process", 60.0)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        shed = [await api.post("/v1/customers", json=payloads.customer("US01")) for _ in range(3)]
        assert [a.status_code for a in shed] == [503] * 3
        assert all(a.json()["code"] == "erp_unavailable" for a in shed)
        # The ERP's budget was full, not the client's: its three requests are still its own.
        lookups = [
            await api.get("/v1/customers", params={"external_ref": "SHED"}) for _ in range(4)
        ]
    assert [a.status_code for a in lookups] == [200, 200, 200, 429], lookups[-1].text


async def test_a_shed_requests_ratelimit_header_shows_the_quota_it_gave_back(
    store: Store, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, rate_limits=THREE_REQUESTS)
    assert await store.acquire_slot("erp:cloud:in-flight", 1, "another-process", 60.0)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        shed = [await api.post("/v1/customers", json=payloads.customer("US01")) for _ in range(3)]
    assert [a.status_code for a in shed] == [503] * 3
    # A client pacing itself by RateLimit is told what it still has: all three, a full bucket.
    assert [a.headers["ratelimit"] for a in shed] == ['"standard";r=3;t=0'] * 3


async def test_a_request_the_open_breaker_refuses_shows_its_quota_given_back(
    store: Store, tmp_path: Path
) -> None:
    resilience = {"attempts": 1, "enabled": "true", "failures": 1, "cool_down_s": 3600}
    config_dir = write_config(tmp_path, resilience=resilience, rate_limits=THREE_REQUESTS)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        gw.erps["cloud"].down = True
        failed = await api.post("/v1/customers", json=payloads.customer("US01"))
        refused = [
            await api.post("/v1/customers", json=payloads.customer("US01")) for _ in range(2)
        ]
    assert failed.headers["ratelimit"].startswith('"standard";r=2;')
    assert [a.json().get("backend_state") for a in refused] == ["breaker_open"] * 2
    assert all(a.headers["ratelimit"].startswith('"standard";r=2;') for a in refused)


async def test_requests_an_open_breaker_refuses_do_not_spend_the_clients_rate_limit(
    store: Store, tmp_path: Path
) -> None:
    resilience = {"attempts": 1, "enabled": "true", "failures": 1, "cool_down_s": 3600}
    config_dir = write_config(tmp_path, resilience=resilience, rate_limits=THREE_REQUESTS)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        gw.erps["cloud"].down = True
        failed = await api.post("/v1/customers", json=payloads.customer("US01"))
        assert failed.status_code == 503  # it reached the ERP: counted; the breaker opens
        refused = [
            await api.post("/v1/customers", json=payloads.customer("US01")) for _ in range(3)
        ]
        assert [a.json().get("backend_state") for a in refused] == ["breaker_open"] * 3
        assert gw.erps["cloud"].calls == ["create_customer"]
        lookups = [
            await api.get("/v1/customers", params={"external_ref": "OPEN"}) for _ in range(3)
        ]
    assert [a.status_code for a in lookups] == [200, 200, 429], lookups[-1].text


class _AdmissionDown(MemoryStore):
    """A store whose admission calls fail, as when Redis drops mid-request."""

    async def admit(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable()


@pytest.mark.parametrize(("setting", "status"), [("open", 200), ("closed", 503)])
async def test_a_store_outage_fails_rate_limits_open_or_closed_as_configured(
    tmp_path: Path, setting: str, status: int
) -> None:
    config_dir = write_config(tmp_path, rate_limits=RATE_LIMITS + f"on_store_error: {setting}\n")
    async with in_process_gateway(_AdmissionDown(), config_dir) as gw, gw.client() as api:
        lookup = await api.get("/v1/customers", params={"external_ref": "X"})
        assert lookup.status_code == status
        if status == 503:
            assert lookup.json()["code"] == "store_unavailable"
            assert lookup.headers["retry-after"]


async def test_a_keyed_write_is_refused_when_the_store_cannot_claim_its_key(
    tmp_path: Path,
) -> None:
    config_dir = write_config(tmp_path, rate_limits=RATE_LIMITS + "on_store_error: open\n")
    store = _AdmissionDown()
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        customer = await api.post("/v1/customers", json=payloads.customer("US01"))
        assert customer.status_code == 201  # no key: admitted open
        order = await api.post(
            "/v1/sales-orders",
            json=payloads.order("US01", customer.json()["id"]),
            headers=payloads.new_key(),
        )
        assert order.status_code == 503
        assert order.json()["code"] == "store_unavailable"
        assert not gw.erps["cloud"].orders


SHARED_ERP = """
tiers:
  standard: {rate_per_s: 0.1, burst: 2}
  roomy: {rate_per_s: 100, burst: 100}
backends:
  legacy: {max_rps: 3, max_in_flight: 10}
  cloud: {max_rps: 3, max_in_flight: 10}
"""
SECOND_CLIENT = """
  - id: crm-second
    scopes: [customers:read]
    legal_entities: "*"
    rate_limit: roomy
"""


async def test_requests_refused_before_the_erp_do_not_spend_its_shared_budget(
    tmp_path: Path,
) -> None:
    config_dir = write_config(tmp_path, rate_limits=SHARED_ERP, clients=SECOND_CLIENT)
    store = MemoryStore(clock=lambda: 1000.0)  # time stands still: no bucket refills
    async with in_process_gateway(store, config_dir) as gw:
        erp = gw.erps["cloud"]
        async with gw.client() as noisy:
            created = await noisy.post("/v1/customers", json=payloads.customer("US01"))
            assert created.status_code == 201  # spends 1 of the ERP's 3 and 1 of the client's 2
            customer_id = created.json()["id"]
            answers = [await noisy.get(f"/v1/customers/{customer_id}") for _ in range(5)]
        assert [a.status_code for a in answers] == [200, 429, 429, 429, 429]
        async with gw.client("crm-second") as other:
            # The ERP's bucket (burst 3, 3/s) still holds the one request the noisy
            # client's refusals did not spend.
            read = await other.get(f"/v1/customers/{customer_id}")
        assert read.status_code == 200, read.text
        assert erp.calls.count("get_customer") == 2


@pytest.mark.parametrize(
    "limits",
    [
        "  standard: {rate_per_s: .inf, burst: 5}",  # was a 500 for every request
        "  standard: {rate_per_s: 10000000, burst: 5}",  # on Redis, a 500 for every request
        "  standard: {rate_per_s: 1, burst: 100000000000000000000}",  # on Redis, r=-9223...
        "  standard: {rate_per_s: 1.0e-300, burst: 5}",  # on Redis, a 500 for every request
        "  standard: {rate_per_s: 1, burst: 5}\nbackends:\n  cloud: {max_rps: .inf, "
        "max_in_flight: 3}",  # was a traceback at start-up
    ],
)
def test_rate_limits_no_store_can_keep_are_refused_at_load_with_file_and_line(
    tmp_path: Path, limits: str
) -> None:
    config_dir = write_config(tmp_path, rate_limits=f"tiers:\n{limits}\n")
    errors = [str(i) for i in check_config(config_dir, env=ENV) if i.severity == "error"]
    assert errors, "accepted"
    assert errors[0].startswith("policies/rate-limits.yaml:"), errors


@pytest.mark.parametrize("max_in_flight", ["0", "-3", "10001", "100000000000000000000", "1e400"])
def test_an_erp_budget_no_deployment_can_mean_is_refused_at_load_with_file_and_line(
    tmp_path: Path, max_in_flight: str
) -> None:
    # None in flight refuses every request; more than any ERP serves at once (and any gateway
    # fleet's connection pools can open) protects nothing: a typo, refused with its line.
    limits = "  standard: {rate_per_s: 1, burst: 5}\nbackends:\n  cloud: {max_rps: 100, "
    limits += f"max_in_flight: {max_in_flight}}}"
    config_dir = write_config(tmp_path, rate_limits=f"tiers:\n{limits}\n")
    errors = [str(i) for i in check_config(config_dir, env=ENV) if i.severity == "error"]
    assert errors, "accepted"
    assert errors[0].startswith("policies/rate-limits.yaml:4:"), errors
    assert "max_in_flight" in errors[0], errors


def test_the_largest_erp_budget_is_accepted(tmp_path: Path) -> None:
    limits = "  standard: {rate_per_s: 1, burst: 5}\nbackends:\n"
    limits += "  cloud: {max_rps: 1000000, max_in_flight: 10000}"
    config_dir = write_config(tmp_path, rate_limits=f"tiers:\n{limits}\n")
    assert not [i for i in check_config(config_dir, env=ENV) if i.severity == "error"]


async def test_the_highest_rate_a_tier_may_have_is_served_on_each_store(
    store: Store, tmp_path: Path
) -> None:
    # The README's bounds: a million requests a second, a burst of a billion.
    rate_limits = "tiers:\n  standard: {rate_per_s: 1000000, burst: 1000000000}\n"
    config_dir = write_config(tmp_path, rate_limits=rate_limits)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        lookup = await api.get("/v1/customers", params={"external_ref": "FAST"})
    assert lookup.status_code == 200, lookup.text
    assert lookup.headers["ratelimit"] == '"standard";r=999999999;t=1'


# RFC 8941 sf-string: printable ASCII, with `"` and `\` escaped by a backslash.
_SF_STRING = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"'


@pytest.mark.parametrize("tier", ['gold"plus', "premium-标准"])
async def test_a_tier_name_either_is_refused_by_the_config_or_is_sent_as_a_valid_sf_string(
    tmp_path: Path, tier: str
) -> None:
    """STANDARDS.md: RateLimit-Policy and RateLimit are Lists of Items whose name is a quoted
    (sf-string) policy name: a tier name with a quote would be a malformed header, and one
    beyond Latin-1 could not be encoded at all."""
    rate_limits = f"""
tiers:
  standard: {{rate_per_s: 50, burst: 100}}
  '{tier}': {{rate_per_s: 50, burst: 100}}
"""
    clients = f"""
  - id: crm-odd-tier
    scopes: [customers:read, customers:write]
    legal_entities: "*"
    rate_limit: '{tier}'
"""
    config_dir = write_config(tmp_path, rate_limits=rate_limits, clients=clients)
    errors = [i for i in check_config(config_dir, env=ENV) if i.severity == "error"]
    if errors:
        return  # refused up front: fine
    try:
        async with (
            in_process_gateway(MemoryStore(), config_dir) as gw,
            gw.client("crm-odd-tier") as api,
        ):
            response = await api.post("/v1/customers", json=payloads.customer("US01"))
    except ConfigError:
        return
    assert response.status_code == 201, response.text
    assert re.fullmatch(_SF_STRING + r";q=\d+;w=\d+", response.headers["ratelimit-policy"])
    assert re.fullmatch(_SF_STRING + r";r=\d+;t=\d+", response.headers["ratelimit"])
