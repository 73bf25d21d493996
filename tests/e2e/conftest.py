"""End-to-end fixtures: both simulators and `gateway serve` as real processes on free ports.

One gateway on the memory store serves most tests; a pair on one private Redis shows the
production shape (several processes acting as one gateway).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.config.loader import load_config
from gateway.demo import SIMULATOR_CREDENTIALS, demo_issuer, mint_token
from tests.redis_server import RedisProcess, redis_server_installed
from tests.servers import PYTHON, ServerProcess, free_port, run_process

REPO = Path(__file__).resolve().parents[2]
TEST_SECRET = "e2e-test-secret-not-the-dev-one-0123456789"
ERP_TIMEOUT_S = 1.5  # the backends' timeout_s in the e2e config, short so timeout tests are fast
# A wave moving FR01 to the cloud ERP, so that each ERP serves one EU legal entity in the tests.
FR01_WAVE = """  - id: fr01-wave-2
    match: {legal_entities: [FR01]}
    backend: cloud
"""
# The production-shape config: a tight tier for one client, small ERP budgets, short leases.
ERP_MAX_IN_FLIGHT = 8
IDEMPOTENCY_LEASE_S = 3
PROD_RATE_LIMITS = f"""
tiers:
  standard: {{rate_per_s: 1000, burst: 2000}}
  tight: {{rate_per_s: 1, burst: 10}}
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


def write_config(target: Path, pool: int | None = None, **policies: str) -> Path:
    """The repository's config with short ERP timeouts, FR01 on the cloud ERP, and any
    `policies/<name>.yaml` replaced (`rate_limits=...` writes rate-limits.yaml)."""
    routes = (REPO / "routes.yaml").read_text()
    assert "\nrules:\n" in routes, "the e2e config adds a rule at the top of routes.yaml"
    (target / "routes.yaml").write_text(routes.replace("\nrules:\n", "\nrules:\n" + FR01_WAVE, 1))
    shutil.copytree(REPO / "policies", target / "policies")
    (target / "backends").mkdir()
    for backend in (REPO / "backends").glob("*.yaml"):
        text = re.sub(r"(?m)^timeout_s: .*$", f"timeout_s: {ERP_TIMEOUT_S}", backend.read_text())
        if pool is not None:
            text = re.sub(r"(?m)^  max_connections: .*$", f"  max_connections: {pool}", text)
        (target / "backends" / backend.name).write_text(text)
    for name, text in policies.items():
        path = target / "policies" / f"{name.replace('_', '-')}.yaml"
        path.write_text(path.read_text() + text if name == "clients" else text)
    return target


@pytest.fixture(scope="session")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("config"))


@pytest.fixture(scope="session")
def prod_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(
        tmp_path_factory.mktemp("prod-config"),
        rate_limits=PROD_RATE_LIMITS,
        clients=LIMITED_CLIENT,
        idempotency=PROD_IDEMPOTENCY,
    )


@pytest.fixture(scope="session")
def wide_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(
        tmp_path_factory.mktemp("wide-config"), pool=100, rate_limits=WIDE_RATE_LIMITS
    )


@contextlib.contextmanager
def _simulator(erp: str) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PYTHON, "-m", "gateway.cli", "simulate", erp, "--port", str(port)]
    with run_process(args, url + "/_sim/stats", expect=200):
        yield url


@pytest.fixture(scope="session")
def legacy_url() -> Iterator[str]:
    with _simulator("legacy") as url:
        yield url


@pytest.fixture(scope="session")
def cloud_url() -> Iterator[str]:
    with _simulator("cloud") as url:
        yield url


@pytest.fixture(scope="session")
def gateway_env(legacy_url: str, cloud_url: str, config_dir: Path) -> dict[str, str]:
    return {
        **SIMULATOR_CREDENTIALS,
        "GATEWAY_LEGACY_URL": legacy_url,
        "GATEWAY_CLOUD_URL": cloud_url,
        "GATEWAY_DEMO_SECRET": TEST_SECRET,
        "GATEWAY_CONFIG_DIR": str(config_dir),
        "GATEWAY_REDIS_URL": "",
    }


@contextlib.contextmanager
def start_gateway(env: dict[str, str], **overrides: str) -> Iterator[tuple[str, ServerProcess]]:
    """One `gateway serve` process; yields its base URL and the process."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PYTHON, "-m", "gateway.cli", "serve", "--port", str(port)]
    with run_process(args, url + "/readyz", env={**env, **overrides}, expect=200) as proc:
        yield url, proc


@pytest.fixture(scope="session")
def gateway_url(gateway_env: dict[str, str]) -> Iterator[str]:
    with start_gateway(gateway_env) as (url, _):
        yield url


@pytest.fixture(scope="session")
def private_redis() -> Iterator[RedisProcess]:
    if not redis_server_installed():
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with RedisProcess() as server:
        server.start()
        yield server


@pytest.fixture(scope="session")
def redis_gateways(
    gateway_env: dict[str, str], prod_config_dir: Path, private_redis: RedisProcess
) -> Iterator[tuple[str, str]]:
    """Two gateway processes sharing one Redis: the production shape."""
    env = {
        **gateway_env,
        "GATEWAY_CONFIG_DIR": str(prod_config_dir),
        "GATEWAY_REDIS_URL": private_redis.url,
    }
    with start_gateway(env) as (first, _), start_gateway(env) as (second, _):
        yield first, second


@pytest.fixture(scope="session")
def token(config_dir: Path) -> str:
    return token_for("crm-demo", config_dir)


def token_for(client_id: str, config_dir: Path) -> str:
    issuer = demo_issuer(load_config(config_dir, env={"GATEWAY_DEMO_SECRET": "x"}).auth)
    return mint_token(issuer, TEST_SECRET, client_id)


def client_for(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=15)


@pytest.fixture
def api(gateway_url: str, token: str) -> Iterator[httpx.Client]:
    with client_for(gateway_url, token) as client:
        yield client


@pytest.fixture
def legacy(legacy_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=legacy_url, timeout=10) as client:
        yield client
        client.delete("/_sim/faults")


@pytest.fixture
def cloud(cloud_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloud_url, timeout=10) as client:
        yield client
        client.delete("/_sim/faults")


@pytest.fixture
def sims(legacy: httpx.Client, cloud: httpx.Client) -> dict[str, httpx.Client]:
    return {"legacy": legacy, "cloud": cloud}
