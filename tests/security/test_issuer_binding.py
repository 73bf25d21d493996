"""A client answers to one issuer: with several issuers trusted, a token of one of them naming a
client that belongs to another is refused as if the client were unknown, and `gateway check`
asks every client to name its issuer."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import jwt

from gateway.config.loader import check_config
from gateway.store.memory import MemoryStore
from tests.configs import write_config
from tests.e2e import payloads
from tests.harness import ENV, SECRET, in_process_gateway, token_for

PARTNER_ISS = "https://idp.partner.example"
PARTNER = f"""
  - name: partner
    issuer: {PARTNER_ISS}
    audiences: [erp-gateway]
    algorithms: [HS256]
    secret_env: GATEWAY_DEMO_SECRET
"""
PARTNER_CLIENT = """
  - id: partner-app
    issuer: partner
    scopes: [customers:read, customers:write]
    legal_entities: [US01]
    rate_limit: standard
"""


def _two_issuers(tmp_path: Path, bind: bool = True) -> Path:
    config = write_config(tmp_path)
    auth = config / "policies" / "auth.yaml"
    auth.write_text(auth.read_text() + PARTNER)
    clients = config / "policies" / "clients.yaml"
    text = clients.read_text()
    if bind:
        text = re.sub(r"(?m)^(  - id: .*)$", r"\1\n    issuer: demo", text)
    clients.write_text(text + PARTNER_CLIENT)
    return config


def _partner_token(client_id: str) -> str:
    now = int(time.time())
    claims = {
        "iss": PARTNER_ISS,
        "aud": "erp-gateway",
        "sub": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_another_issuers_token_naming_a_client_is_refused_as_unknown(
    tmp_path: Path,
) -> None:
    async with in_process_gateway(MemoryStore(), _two_issuers(tmp_path)) as gw:
        transport = httpx.ASGITransport(app=gw.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as api:
            body = payloads.customer("US01")
            # The partner's identity provider mints a token naming the demo CRM (or the
            # operators' client): none of them belongs to it.
            for client in ("crm-demo", "ops-admin"):
                forged = await api.post(
                    "/v1/customers", json=body, headers=_bearer(_partner_token(client))
                )
                assert forged.status_code == 403, forged.text
                assert forged.json()["detail"] == "This client is not registered with the gateway."
            admin = await api.get(
                "/admin/transactions", headers=_bearer(_partner_token("ops-admin"))
            )
            assert admin.status_code == 403
            assert all(not erp.calls for erp in gw.erps.values())
            # Each issuer's own clients are served.
            own = await api.post(
                "/v1/customers", json=body, headers=_bearer(_partner_token("partner-app"))
            )
            assert own.status_code == 201, own.text
            demo = await api.post(
                "/v1/customers",
                json=payloads.customer("US01"),
                headers=_bearer(token_for("crm-demo")),
            )
            assert demo.status_code == 201, demo.text
            # ...and the demo issuer cannot speak for the partner's client either.
            crossed = await api.get(
                "/v1/customers",
                params={"external_ref": "X"},
                headers=_bearer(token_for("partner-app")),
            )
            assert crossed.status_code == 403


def test_check_asks_each_client_to_name_its_issuer_when_several_are_trusted(
    tmp_path: Path,
) -> None:
    config = _two_issuers(tmp_path, bind=False)
    errors = [i for i in check_config(config, env=ENV) if i.severity == "error"]
    clients = (config / "policies" / "clients.yaml").read_text().splitlines()
    unbound = [line for line in clients if line.startswith("  - id: ")][:-1]
    assert [(i.file, i.message.split(" names")[0]) for i in errors] == [
        ("policies/clients.yaml", f"client {line.split(': ')[1].split()[0]}") for line in unbound
    ]
    assert errors[0].message.endswith(
        "names no issuer, and policies/auth.yaml trusts 2 (demo, partner): add `issuer:` with "
        "the one whose tokens speak for it, or any of them could name this client"
    )
    assert errors[0].line is not None and clients[errors[0].line - 1].startswith("  - id: ")


def test_check_refuses_a_client_bound_to_an_issuer_it_does_not_trust(tmp_path: Path) -> None:
    config = _two_issuers(tmp_path)
    clients = config / "policies" / "clients.yaml"
    clients.write_text(clients.read_text().replace("issuer: partner", "issuer: partnr"))
    [error] = [i for i in check_config(config, env=ENV) if i.severity == "error"]
    assert error.message == "unknown issuer 'partnr' (known: demo, partner)"
    assert error.line is not None
    assert "issuer: partnr" in clients.read_text().splitlines()[error.line - 1]


def test_one_trusted_issuer_needs_no_binding(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert [i for i in check_config(config, env=ENV) if i.severity == "error"] == []


async def test_an_operators_replay_acts_for_a_client_bound_to_its_issuer(tmp_path: Path) -> None:
    # A replay speaks for the journaled client on the operator's authority, not with a token
    # of the client's issuer: binding the client to its issuer must not refuse the replay.
    async with (
        in_process_gateway(MemoryStore(), _two_issuers(tmp_path)) as gw,
        gw.client() as api,
        gw.client("ops-admin") as ops,
    ):
        erp = gw.erps["legacy"]
        erp.unavailable = {"create_customer"}
        failed = await api.post("/v1/customers", json=payloads.customer("DE01"))
        assert failed.status_code == 503, failed.text
        listed = await ops.get(
            "/admin/transactions",
            params={"correlation_id": failed.headers["x-correlation-id"]},
        )
        (entry,) = listed.json()["items"]
        erp.unavailable = set()
        replayed = await ops.post(f"/admin/transactions/{entry['id']}/replay", json={})
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["replay"]["status"] == 201, replayed.text
        assert len(erp.customers) == 1
