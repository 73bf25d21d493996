"""Test configurations: the repository's config copied, with some policies replaced.

Used by the end-to-end tests and the benchmark; nothing here starts a process.
"""

from __future__ import annotations

import functools
import re
import shutil
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Where policies/subscriptions.yaml sends the demo's events: the README's example subscriber
# (Domain events). A gateway a test starts never sends there (see `copy_config`).
README_SUBSCRIBER = "http://127.0.0.1:9200/webhooks"
TEST_SECRET = "e2e-test-secret-not-the-dev-one-0123456789"
# The shipped subscription's signing secret, set in the tests' gateways as where one is deployed
# (unset, each load of the configuration warns of it).
WEBHOOK_SECRET_ENV = "CRM_WEBHOOK_SECRET"
WEBHOOK_SECRET = "whsec_dGVzdHMtd2ViaG9vay1zaWduaW5nLWtleS0zMi1ieXRl"
# The shipped backends' events secrets (`events.secret_env`: both push), set as where a gateway
# is deployed (unset, each load to serve the configuration warns of each).
EVENTS_SECRETS = {
    "LEGACY_EVENTS_SECRET": "tests-legacy-events-secret",
    "CLOUD_EVENTS_SECRET": "tests-cloud-events-secret",
}
ERP_TIMEOUT_S = 1.5  # the backends' timeout_s in the e2e config, short so timeout tests are fast
# A wave moving FR01 to the cloud ERP, so that each ERP serves one EU legal entity in the tests.
FR01_WAVE = """  - id: fr01-wave-2
    match: {legal_entities: [FR01]}
    backend: cloud
"""
# The production-shape config: a tight tier for one client, small ERP budgets, short leases.
ERP_MAX_IN_FLIGHT = 8
IDEMPOTENCY_LEASE_S = 3
IDEMPOTENCY_GRACE_S = 2
PROD_RATE_LIMITS = f"""
tiers:
  standard: {{rate_per_s: 1000, burst: 2000}}
  tight: {{rate_per_s: 0.05, burst: 10}}  # one more request every 20 s: no refill mid-test
backends:
  legacy: {{max_rps: 5000, max_in_flight: {ERP_MAX_IN_FLIGHT}}}
  cloud: {{max_rps: 5000, max_in_flight: {ERP_MAX_IN_FLIGHT}}}
"""
LIMITED_CLIENT = """
  - id: crm-limited
    scopes: [customers:read, customers:write, sales_orders:read, sales_orders:write]
    legal_entities: "*"
    rate_limit: tight
"""
PROD_IDEMPOTENCY = f"""
retention_s: 86400
lease_s: {IDEMPOTENCY_LEASE_S}
ambiguous_grace_s: {IDEMPOTENCY_GRACE_S}
operations: {{sales_orders.create: required, sales_orders.cancel: required,
             customers.create: optional}}
"""
# Wide budgets, for a gateway that must hold many requests in flight at once.
WIDE_RATE_LIMITS = """
tiers:
  standard: {rate_per_s: 1000, burst: 2000}
backends:
  legacy: {max_rps: 5000, max_in_flight: 200}
  cloud: {max_rps: 5000, max_in_flight: 200}
"""
# An address's authentication failures limited to three at once, then one more each 10 s.
AUTH_FAILURES_LIMITED = """
tiers:
  standard: {rate_per_s: 1000, burst: 1000}
backends:
  legacy: {max_rps: 1000, max_in_flight: 30}
  cloud: {max_rps: 1000, max_in_flight: 30}
auth_failures: {max_failures: 3, window_s: 30}
"""


# The operations tests' gateway: retries on, and a breaker that opens after 3 failures in a
# row and tries again after 1 s (short, so that a test sees it open and close).
BREAKER_FAILURES = 3
BREAKER_COOL_DOWN_S = 1.0
RESILIENT = {
    "attempts": 3,
    "enabled": "true",
    "failures": BREAKER_FAILURES,
    "cool_down_s": BREAKER_COOL_DOWN_S,
}

# The gateways most end-to-end tests share run many ERP-fault tests in a row: a breaker would
# carry one test's failures into the next, and retries would blur how often the ERP was
# called. Those tests run with neither; the resilience tests set their own (`resilience=`).
NO_RESILIENCE = {"attempts": 1, "enabled": "false"}


@functools.cache
def _unheard_port() -> socket.socket:
    # Bound and never listening, for as long as this process runs: no one else can take the
    # port, and every connection to it is refused at once, as to a subscriber that is down.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def unheard_subscriber() -> str:
    """A webhook URL on a port this process holds and nobody answers on."""
    return f"http://127.0.0.1:{_unheard_port().getsockname()[1]}/webhooks"


def copy_config(target: Path) -> Path:
    """The repository's config (routes.yaml, backends/, policies/) as it is, but for its webhook
    subscriptions, which deliver to `unheard_subscriber()`: a gateway a test starts on it never
    sends its events to a subscriber someone runs on :9200 (README, Domain events), and fails
    its deliveries there whether anyone runs one or not."""
    shutil.copy(REPO / "routes.yaml", target / "routes.yaml")
    shutil.copytree(REPO / "backends", target / "backends")
    shutil.copytree(REPO / "policies", target / "policies")
    subscriptions = target / "policies" / "subscriptions.yaml"
    text = subscriptions.read_text()
    assert README_SUBSCRIBER in text, "the test config redirects the demo's webhook subscription"
    subscriptions.write_text(text.replace(README_SUBSCRIBER, unheard_subscriber()))
    return target


def write_config(
    target: Path,
    pool: int | None = None,
    resilience: dict[str, object] | None = None,
    **policies: str,
) -> Path:
    """The repository's config (`copy_config`) with short ERP timeouts, FR01 on the cloud ERP,
    and any `policies/<name>.yaml` replaced (`rate_limits=...` writes rate-limits.yaml).
    `resilience` sets the backends' retry and breaker keys by name (`attempts`, `failures`,
    `enabled`, `cool_down_s`, ...); by default retries and breakers are off (NO_RESILIENCE)."""
    copy_config(target)
    routes = (target / "routes.yaml").read_text()
    assert "\nrules:\n" in routes, "the e2e config adds a rule at the top of routes.yaml"
    (target / "routes.yaml").write_text(routes.replace("\nrules:\n", "\nrules:\n" + FR01_WAVE, 1))
    for backend in (target / "backends").glob("*.yaml"):
        text = re.sub(r"(?m)^timeout_s: .*$", f"timeout_s: {ERP_TIMEOUT_S}", backend.read_text())
        if pool is not None:
            text = re.sub(r"(?m)^  max_connections: .*$", f"  max_connections: {pool}", text)
        for key, value in (NO_RESILIENCE if resilience is None else resilience).items():
            text, found = re.subn(rf"(?m)^(\s*){key}: .*$", rf"\g<1>{key}: {value}", text)
            assert found, f"{backend.name} has no {key}: to set"
        (target / "backends" / backend.name).write_text(text)
    for name, text in policies.items():
        path = target / "policies" / f"{name.replace('_', '-')}.yaml"
        path.write_text(path.read_text() + text if name == "clients" else text)
    return target
