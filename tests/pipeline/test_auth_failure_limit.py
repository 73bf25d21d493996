"""The limit on each client address's authentication failures (`rate-limits.yaml`
`auth_failures:`), in-process: past `max_failures`, the address's requests are refused 429
before any token check, but for a token already verified; other addresses (a trusted proxy's
clients included) are not; the window lets the address through again; a reload keeps the count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from gateway.config.issues import ConfigError
from gateway.config.loader import check_config, load_config
from gateway.observability.forwarded_for import ForwardedFor
from gateway.pipeline.auth_failures import FailedAddresses, failing_party
from gateway.store.memory import MemoryStore
from tests.configs import AUTH_FAILURES_LIMITED as LIMITED
from tests.configs import write_config
from tests.conftest import ManualClock
from tests.harness import ENV, REPO, Gateway, bearer, forged_token, in_process_gateway, token_for

ATTACKER = "198.51.100.7"
NEIGHBOUR = "198.51.100.8"
PROXY = "192.0.2.1"
QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded"
PATHS = ["/v1/customers/cus_1", "/customers/cus_1", "/admin/audit"]


def _refusals() -> float:
    return REGISTRY.get_sample_value("gateway_auth_failures_limited_total") or 0.0


def _judged() -> float:
    """Tokens judged bad so far: each one's signature was checked."""
    return (
        REGISTRY.get_sample_value("gateway_auth_failures_total", {"reason": "bad_signature"}) or 0.0
    )


def _malformed() -> float:
    return REGISTRY.get_sample_value("gateway_auth_failures_total", {"reason": "malformed"}) or 0.0


@asynccontextmanager
async def _gateway(tmp_path: Path, rate_limits: str = LIMITED) -> AsyncIterator[Gateway]:
    async with in_process_gateway(
        MemoryStore(), write_config(tmp_path, rate_limits=rate_limits)
    ) as gw:
        yield gw


def _from(gw: Gateway, address: str) -> httpx.AsyncClient:
    """A client whose connections come from `address`."""
    transport = httpx.ASGITransport(app=gw.app, client=(address, 41000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


def _behind_proxy(gw: Gateway) -> httpx.AsyncClient:
    """A client whose connections come from `PROXY`, which the gateway trusts (as `gateway
    serve --forwarded-allow-ips` sets it up): its X-Forwarded-For names the client."""
    transport = httpx.ASGITransport(app=ForwardedFor(gw.app, (PROXY,)), client=(PROXY, 41000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


def _clock(gw: Gateway) -> ManualClock:
    clock = ManualClock()
    gw.runtime.failed_addresses.clock = clock
    return clock


async def _guess(api: httpx.AsyncClient) -> int:
    """The status a forged token of the address of `api` gets."""
    return (await api.get("/v1/customers/cus_1", headers=bearer(forged_token()))).status_code


@pytest.mark.parametrize("path", PATHS)
async def test_past_its_failures_an_address_is_refused_429_before_any_token_check(
    tmp_path: Path, path: str
) -> None:
    async with _gateway(tmp_path) as gw, _from(gw, ATTACKER) as attacker:
        _clock(gw)
        guesses = [await attacker.get(path, headers=bearer(forged_token())) for _ in range(3)]
        judged, refusals = _judged(), _refusals()
        refused = await attacker.get(path, headers=bearer(forged_token()))
        # A valid token no request has shown yet would need a check: refused as well.
        valid = await attacker.get(path, headers=bearer(token_for("ops-admin", ttl_s=601)))
        anonymous = await attacker.get(path)

    assert [r.status_code for r in guesses] == [401] * 3
    assert [r.status_code for r in (refused, valid, anonymous)] == [429] * 3, refused.text
    assert _judged() == judged  # no token of theirs was checked
    assert _refusals() == refusals + 3
    assert refused.headers["retry-after"] == "10"  # one failure back each 30 s / 3
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == QUOTA_EXCEEDED
    assert (problem["status"], problem["code"]) == (429, "rate_limited")
    assert problem["violated-policies"] == ["auth_failures"]
    assert "authentication" in problem["detail"]
    assert refused.headers["ratelimit-policy"] == '"auth_failures";q=3;w=30'
    assert refused.headers["ratelimit"] == '"auth_failures";r=0;t=30'  # 30 s to forget them all


@pytest.mark.parametrize("path", PATHS)
async def test_a_limited_address_sending_two_authorization_headers_is_refused_429_too(
    tmp_path: Path, path: str
) -> None:
    """Two headers are a 401 of their own (`malformed`), but a limited address gets the 429
    first, as for any other header it sends: the limit is checked before the header is read."""
    async with _gateway(tmp_path) as gw, _from(gw, ATTACKER) as attacker:
        _clock(gw)
        for _ in range(3):
            await attacker.get(path, headers=bearer(forged_token()))
        malformed = _malformed()
        two = [("Authorization", f"Bearer {forged_token()}"), ("Authorization", "Bearer x")]
        refused = await attacker.get(path, headers=two)

    assert refused.status_code == 429, refused.text
    assert _malformed() == malformed  # a 429, not a 401 counted as a failure


async def test_a_token_already_verified_still_passes_from_a_limited_address(
    tmp_path: Path,
) -> None:
    """It costs no check (the verified-token cache answers), so the limit has nothing to save;
    the other clients behind the same address (a NAT, a proxy) keep working."""
    token = token_for("crm-demo")
    async with _gateway(tmp_path) as gw, _from(gw, ATTACKER) as api:
        _clock(gw)
        before = await api.get("/v1/customers/cus_1", headers=bearer(token))
        guesses = [
            await api.get("/v1/customers/cus_1", headers=bearer(forged_token())) for _ in range(4)
        ]
        after = await api.get("/v1/customers/cus_1", headers=bearer(token))

    assert before.status_code == after.status_code == 404  # past authentication: no such customer
    assert [r.status_code for r in guesses] == [401, 401, 401, 429]


async def test_a_success_neither_counts_nor_forgives_a_failure(tmp_path: Path) -> None:
    async with _gateway(tmp_path) as gw, _from(gw, ATTACKER) as api:
        _clock(gw)
        statuses = []
        for token in [
            forged_token(),
            forged_token(),
            token_for("crm-demo"),
            forged_token(),
            forged_token(),
        ]:
            statuses.append(
                (await api.get("/v1/customers/cus_1", headers=bearer(token))).status_code
            )
    assert statuses == [401, 401, 404, 401, 429]


async def test_an_address_that_never_failed_is_never_tracked(tmp_path: Path) -> None:
    """A success costs the limit nothing, not even an entry."""
    async with _gateway(tmp_path) as gw, _from(gw, ATTACKER) as api:
        for _ in range(3):
            answer = await api.get("/v1/customers/cus_1", headers=bearer(token_for("crm-demo")))
            assert answer.status_code == 404
        assert len(gw.runtime.failed_addresses) == 0


async def test_other_addresses_are_not_affected_nor_a_trusted_proxys_other_clients(
    tmp_path: Path,
) -> None:
    async with _gateway(tmp_path) as gw, _behind_proxy(gw) as proxy, _from(gw, NEIGHBOUR) as other:
        _clock(gw)
        attacker = {"X-Forwarded-For": ATTACKER}
        for _ in range(3):
            await proxy.get("/v1/customers/cus_1", headers={**attacker, **bearer(forged_token())})
        refused = await proxy.get(
            "/v1/customers/cus_1", headers={**attacker, **bearer(forged_token())}
        )
        behind = {"X-Forwarded-For": NEIGHBOUR, **bearer(token_for("crm-demo", ttl_s=602))}
        neighbour = await proxy.get("/v1/customers/cus_1", headers=behind)
        judged = await proxy.get(
            "/v1/customers/cus_1", headers={"X-Forwarded-For": NEIGHBOUR, **bearer(forged_token())}
        )
        direct = await other.get("/v1/customers/cus_1", headers=bearer(forged_token()))
        itself = await proxy.get("/v1/customers/cus_1", headers=bearer(forged_token()))

    assert refused.status_code == 429
    assert neighbour.status_code == 404  # authenticated
    assert (judged.status_code, direct.status_code, itself.status_code) == (401, 401, 401)


async def test_the_window_lets_the_address_through_again(tmp_path: Path) -> None:
    async with _gateway(tmp_path) as gw, _from(gw, ATTACKER) as api:
        clock = _clock(gw)

        burst = [await _guess(api) for _ in range(4)]
        await clock.advance(9.9)
        still = await _guess(api)
        await clock.advance(0.1)  # one failure given back each 10 s
        one_more = [await _guess(api), await _guess(api)]
        await clock.advance(10)
        valid = await api.get("/v1/customers/cus_1", headers=bearer(token_for("crm-demo")))
        await clock.advance(30)  # the whole window: every failure forgotten
        forgotten = [await _guess(api) for _ in range(4)]

    assert burst == [401, 401, 401, 429]
    assert still == 429
    assert one_more == [401, 429]
    assert valid.status_code == 404  # let through, and authenticated
    assert forgotten == [401, 401, 401, 429]


async def test_a_reload_keeps_the_failures_and_applies_the_new_limit(tmp_path: Path) -> None:
    config = write_config(tmp_path, rate_limits=LIMITED)
    async with in_process_gateway(MemoryStore(), config) as gw, _from(gw, ATTACKER) as api:
        clock = _clock(gw)

        burst = [await _guess(api) for _ in range(4)]
        path = config / "policies" / "rate-limits.yaml"
        path.write_text(path.read_text().replace("max_failures: 3", "max_failures: 6"))
        async with gw.client("ops-admin") as ops:
            assert (await ops.post("/admin/config/reload")).status_code == 200
        kept = await _guess(api)  # the window is as full as it was: no failure forgiven
        await clock.advance(5)  # one back each 30 s / 6 now, not each 10 s
        sooner = [await _guess(api), await _guess(api)]

    assert burst == [401, 401, 401, 429]
    assert kept == 429
    assert sooner == [401, 429]


@pytest.mark.parametrize(
    ("failing", "then", "refused"),
    [
        # One host may hold a whole /64 (SLAAC, privacy addresses): one address of the limit.
        (["2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff::c"], "2001:db8:1:2:1::d", True),
        (["2001:db8:1:2::a"] * 3, "2001:db8:1:3::a", False),  # another /64: another site
        (["2001:db8:1:2::a"] * 3, "2001:db8:1:2::a", True),
        (["::ffff:198.51.100.7"] * 3, ATTACKER, True),  # a dual-stack socket's IPv4 peer
        ([ATTACKER] * 3, "::ffff:198.51.100.7", True),
        ([ATTACKER] * 3, NEIGHBOUR, False),  # IPv4: each address its own
    ],
)
async def test_ipv6_addresses_count_by_their_64_prefix_ipv4_by_the_address(
    tmp_path: Path, failing: list[str], then: str, refused: bool
) -> None:
    async with _gateway(tmp_path) as gw:
        _clock(gw)
        for address in failing:
            async with _from(gw, address) as api:
                answer = await api.get("/v1/customers/cus_1", headers=bearer(forged_token()))
                assert answer.status_code == 401
        async with _from(gw, then) as api:
            answer = await api.get("/v1/customers/cus_1", headers=bearer(forged_token()))
    assert answer.status_code == (429 if refused else 401), answer.text


@pytest.mark.parametrize(
    ("address", "party"),
    [
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),  # a link-local peer's zone is no part of its network
        ("::ffff:10.0.0.5", "10.0.0.5"),
        ("10.0.0.5", "10.0.0.5"),
        ("testclient", "testclient"),  # no IP address (Starlette's test client): its own
    ],
)
def test_the_party_an_address_fails_for(address: str, party: str) -> None:
    assert failing_party(address) == party


async def test_off_no_address_is_ever_refused(tmp_path: Path) -> None:
    off = LIMITED.replace("{max_failures: 3, window_s: 30}", "{enabled: false}")
    async with _gateway(tmp_path, off) as gw, _from(gw, ATTACKER) as api:
        guesses = [
            await api.get("/v1/customers/cus_1", headers=bearer(forged_token())) for _ in range(10)
        ]
    assert [r.status_code for r in guesses] == [401] * 10


def test_absent_the_limit_is_on_with_generous_numbers(tmp_path: Path) -> None:
    config = write_config(tmp_path, rate_limits="tiers:\n  standard: {rate_per_s: 1, burst: 1}\n")
    limit = load_config(config, env=ENV).rate_limits.auth_failures
    assert (limit.enabled, limit.max_failures, limit.window_s) == (True, 100, 60)
    shipped = load_config(REPO, env=ENV).rate_limits.auth_failures
    assert (shipped.max_failures, shipped.window_s) == (100, 60)


@pytest.mark.parametrize(
    ("block", "complaint"),
    [
        ("{max_failures: 0, window_s: 30}", "max_failures"),
        ("{max_failures: 3, window_s: 0}", "window_s"),
        ("{max_failures: 3, window_s: 90000}", "window_s"),
        ("{max_failures: 3, per_s: 30}", "per_s"),
        ("{max_failures: lots}", "max_failures"),
    ],
)
def test_a_bad_limit_is_refused_at_its_line(tmp_path: Path, block: str, complaint: str) -> None:
    config = write_config(
        tmp_path,
        rate_limits=LIMITED.replace("{max_failures: 3, window_s: 30}", block),
    )
    line = LIMITED.splitlines().index("auth_failures: {max_failures: 3, window_s: 30}") + 1
    errors = [i for i in check_config(config, env=ENV) if i.severity == "error"]
    assert len(errors) == 1, [str(i) for i in errors]
    assert (errors[0].file, errors[0].line) == ("policies/rate-limits.yaml", line), str(errors[0])
    assert complaint in str(errors[0])
    with pytest.raises(ConfigError):
        load_config(config, env=ENV)


def test_the_tracked_addresses_are_bounded_the_least_recent_forgotten() -> None:
    """A flood of addresses (spoofed, or an IPv6 range) cannot grow the process's memory."""
    addresses = FailedAddresses(capacity=3, clock=ManualClock())
    for address in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]:
        addresses.failed(address, rate_per_s=0.1, burst=5)
    assert len(addresses) == 3
    assert "10.0.0.1" not in addresses and "10.0.0.4" in addresses
