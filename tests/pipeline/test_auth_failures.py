"""Refused credentials counted in `gateway_auth_failures_total{reason}`, in-process: once per
refused request (an unversioned path, whose pin lookup also reads the token, included), on the
domain API and the admin API, by a reason from a closed list and never the token itself."""

from __future__ import annotations

import httpx
import jwt
import pytest
from prometheus_client import REGISTRY

from gateway.store.memory import MemoryStore
from tests.harness import in_process_gateway, token_for

METRIC = "gateway_auth_failures_total"


def _failures(reason: str) -> float:
    return REGISTRY.get_sample_value(METRIC, {"reason": reason}) or 0.0


def _forged() -> str:
    """A token of the demo issuer signed with another secret."""
    claims = jwt.decode(token_for("crm-demo"), options={"verify_signature": False})
    return jwt.encode(claims, "not-the-demo-secret-but-long-enough-0123456789", algorithm="HS256")


CASES = {
    "missing": None,
    "malformed": "Basic dXNlcjpwYXNz",
    "expired": f"Bearer {token_for('crm-demo', ttl_s=-600)}",
    "bad_signature": f"Bearer {_forged()}",
    "unknown_client": f"Bearer {token_for('nobody-registered')}",
    # Ten years, where the demo issuer allows a day (max_lifetime_s in policies/auth.yaml).
    "too_long_lived": f"Bearer {token_for('crm-demo', ttl_s=315_360_000)}",
}


@pytest.mark.parametrize("path", ["/v1/customers/cus_1", "/customers/cus_1", "/admin/audit"])
@pytest.mark.parametrize("reason", list(CASES))
async def test_each_refused_credential_is_counted_once_by_its_reason(
    reason: str, path: str
) -> None:
    authorization = CASES[reason]
    headers = {} if authorization is None else {"Authorization": authorization}
    async with in_process_gateway(MemoryStore()) as gw:
        transport = httpx.ASGITransport(app=gw.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as api:
            before = {r: _failures(r) for r in CASES}
            refused = await api.get(path, headers=headers)
            after = {r: _failures(r) for r in CASES}
            metrics = (await api.get("/metrics")).text

    assert refused.status_code == (403 if reason == "unknown_client" else 401), refused.text
    assert {r: after[r] - before[r] for r in CASES} == {r: float(r == reason) for r in CASES}
    assert f'{METRIC}{{reason="{reason}"}}' in metrics
    if authorization is not None:
        assert authorization.split()[-1] not in metrics


async def test_a_token_issued_for_longer_than_its_issuer_allows_is_a_401_saying_so() -> None:
    headers = {"Authorization": f"Bearer {token_for('crm-demo', ttl_s=315_360_000)}"}
    async with in_process_gateway(MemoryStore()) as gw:
        transport = httpx.ASGITransport(app=gw.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as api:
            refused = await api.get("/v1/customers/cus_1", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["www-authenticate"] == 'Bearer realm="gateway", error="invalid_token"'
    problem = refused.json()
    assert problem["code"] == "unauthorized"
    assert problem["detail"] == (
        "The token's lifetime, 315360000 s, is longer than the issuer allows (86400 s)."
    )
