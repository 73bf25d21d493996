"""The demo set-up: the dev-only issuer secret, simulator credentials, tokens and the curl tour.

Not for production: `gateway serve` trusts the demo issuer only when GATEWAY_DEMO_SECRET is set,
and never with the dev secret (defined beside that check, in `gateway.pipeline.auth`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping, Sequence

import httpx
import jwt

from gateway.config.auth import AuthPolicy, IssuerConfig
from gateway.config.loader import GatewayConfig
from gateway.domain.operations import KNOWN_SCOPES
from gateway.pipeline.auth import DEV_DEMO_SECRET

DEMO_SECRET_ENV = "GATEWAY_DEMO_SECRET"
ADMIN_CLIENT = "ops-admin"  # the demo's operator client (policies/clients.yaml)

# The private key of the cloud simulator's demo certificate (EC P-256, ES256): INSECURE,
# published in this repository, trusted by the simulator only (its public half is
# erp_simulators/netsuite/integrations.py DEMO_PUBLIC_KEY). Never map it in a real account.
DEMO_CLOUD_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWxNe9oXR1oPfSmjr
Ju5RRIBR2bICKVueR3lZcBC7P5ahRANCAATcvgMYR1cwWKYNqNNMFBWx+R/MRrqC
i8UKYR2xD+HunIOqGZvo7VfXJ4lZKqBdL7hwPr7QM3bx35ndUJO3TpbE
-----END PRIVATE KEY-----
"""
# The simulators' own demo credentials (the simulators' defaults), for the backends' env names:
# the cloud ERP's for both of its login methods (backends/cloud.yaml uses the certificate).
SIMULATOR_CREDENTIALS = {
    "LEGACY_ERP_USER": "GATEWAY_SVC",
    "LEGACY_ERP_PASSWORD": "legacy-sim-secret",
    "CLOUD_ERP_CLIENT_ID": "gateway-demo",
    "CLOUD_ERP_CERTIFICATE_ID": "gateway-demo-certificate",
    "CLOUD_ERP_PRIVATE_KEY": DEMO_CLOUD_PRIVATE_KEY,
    "CLOUD_ERP_CONSUMER_KEY": "gateway-demo",
    "CLOUD_ERP_CONSUMER_SECRET": "INSECURE-demo-consumer-secret-published-in-the-repo",
    "CLOUD_ERP_TOKEN_ID": "gateway-demo-token",
    "CLOUD_ERP_TOKEN_SECRET": "INSECURE-demo-token-secret-published-in-the-repo",
}
# The demo's event secrets: what the simulators authenticate their change notifications with,
# and the demo webhook subscription's signing key. INSECURE: published in this repository.
DEMO_EVENT_SECRETS = {
    "LEGACY_EVENTS_SECRET": "INSECURE-demo-legacy-events-secret",
    "CLOUD_EVENTS_SECRET": "INSECURE-demo-cloud-events-secret",
    "CRM_WEBHOOK_SECRET": "whsec_SU5TRUNVUkUtZGVtby13ZWJob29rLWtleS0zMmJ5dGU=",
}
# Every scope there is: a demo token is then bounded by what clients.yaml grants its client.
ALL_SCOPES = tuple(sorted(KNOWN_SCOPES))


def demo_issuer(policy: AuthPolicy) -> IssuerConfig:
    for issuer in policy.issuers:
        if issuer.demo:
            return issuer
    raise LookupError("policies/auth.yaml has no issuer with `demo: true`")


DEFAULT_TOKEN_TTL_S = 3600


def default_lifetime_s(issuer: IssuerConfig) -> int:
    """The lifetime of a token minted without one asked: an hour, or the issuer's shorter
    `max_lifetime_s` (the gateway would refuse an hour's token of it 401)."""
    cap = issuer.max_lifetime_s
    return DEFAULT_TOKEN_TTL_S if cap is None else min(DEFAULT_TOKEN_TTL_S, cap)


def mint_token(
    issuer: IssuerConfig,
    secret: str,
    client_id: str,
    scopes: Sequence[str] = ALL_SCOPES,
    ttl_s: int | None = None,
) -> str:
    """A token of the demo `issuer` for `client_id`, valid `ttl_s` seconds (by default, see
    `default_lifetime_s`)."""
    if ttl_s is None:
        ttl_s = default_lifetime_s(issuer)
    now = int(time.time())
    claims = {
        "iss": issuer.issuer,
        "aud": issuer.audiences[0],
        "sub": client_id,
        issuer.client_claim: client_id,
        "scope": " ".join(scopes),
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
    }
    # PyJWT writes `typ: JWT` unless told otherwise: the issuer's own type when it lists types.
    headers = {"typ": issuer.token_types[0]} if issuer.token_types else None
    return jwt.encode(claims, secret, algorithm=issuer.algorithms[0], headers=headers)


def demo_environment(env: MutableMapping[str, str], legacy_url: str, cloud_url: str) -> list[str]:
    """Point the backends at the local simulators and fill in demo credentials and secret.

    Returns warnings for the operator (the dev secret is loudly labelled).
    """
    warnings = []
    env["GATEWAY_LEGACY_URL"] = legacy_url
    env["GATEWAY_CLOUD_URL"] = cloud_url
    for name, value in {**SIMULATOR_CREDENTIALS, **DEMO_EVENT_SECRETS}.items():
        env.setdefault(name, value)
    if not env.get(DEMO_SECRET_ENV):
        env[DEMO_SECRET_ENV] = DEV_DEMO_SECRET
        warnings.append(
            f"WARNING: {DEMO_SECRET_ENV} is not set; using the INSECURE dev-only secret published "
            "in this repository. Never expose this demo gateway."
        )
    return warnings


def tour(base_url: str, legacy_url: str, cloud_url: str, token: str) -> str:
    """The curl examples `gateway demo` prints (the README's tour, with a live token)."""
    # Here, not at the top: the dashboard's module loads the journal and the stores, which
    # `gateway token` and the admin commands (this module's other users) have no need of.
    from gateway.api.dashboard import DASHBOARD_PATH

    return f"""
Gateway      {base_url}
Legacy ERP   {legacy_url}   (SAP-style OData v2 simulator)
Cloud ERP    {cloud_url}   (NetSuite-style REST simulator)
Operations   {base_url}{DASHBOARD_PATH}   (the dashboard; an admin token for it:
             .venv/bin/gateway token --client {ADMIN_CLIENT})

A token for client crm-demo (valid 1 h):

export TOKEN={token}

curl -s -X POST {base_url}/v1/customers -H "Authorization: Bearer $TOKEN" \\
  -H 'Content-Type: application/json' -d '{{"external_ref": "CRM-ACC-1001",
  "legal_entity": "US01", "name": "Acme Corp", "tax_id": "US-12-3456789",
  "email": "ap@acme.example", "currency": "USD", "payment_terms": "NET30",
  "credit_limit": "50000.00", "address": {{"line1": "1 Main St", "city": "Austin",
  "postal_code": "78701", "region": "TX", "country": "US"}}}}'

Both ERPs push their order changes to the gateway: an order's events are at
{base_url}/v2/sales-orders/<id>/events, and policies/subscriptions.yaml sends them as
signed webhooks to http://127.0.0.1:9200/webhooks (README: Domain events).

See README.md for the whole five-minute tour.
"""


async def connect_notifications(
    config: GatewayConfig,
    env: Mapping[str, str],
    gateway_url: str,
    simulators: Mapping[str, str],
    **options: bool,
) -> list[str]:
    """Tell each simulator whose backend is set to push events to notify the gateway (with the
    backend's secret); `options` are the simulators' (`duplicates`, `reorder`). The backends
    set up, by name."""
    connected = []
    async with httpx.AsyncClient(timeout=5) as client:
        for name, backend in sorted(config.backends.items()):
            events, url = backend.events, simulators.get(name)
            if events is None or events.mode != "push" or url is None:
                continue
            target = {
                "url": f"{gateway_url}/erp-events/{name}",
                "secret": events.secret(env),
                **options,
            }
            response = await client.post(f"{url}/_sim/notifications", json=target)
            response.raise_for_status()
            connected.append(name)
    return connected
