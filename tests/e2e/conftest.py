"""End-to-end fixtures: both simulators and `gateway serve` as real processes on free ports.

One gateway on the memory store serves most tests; a pair on one private Redis shows the
production shape (several processes acting as one gateway).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.demo import SIMULATOR_CREDENTIALS
from tests.configs import (
    EVENTS_SECRETS,
    LIMITED_CLIENT,
    PROD_IDEMPOTENCY,
    PROD_RATE_LIMITS,
    RESILIENT,
    TEST_SECRET,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET_ENV,
    WIDE_RATE_LIMITS,
    write_config,
)
from tests.e2e.gateways import client_for, start_gateway, start_simulator, token_for
from tests.redis_cluster import RedisClusterProcesses
from tests.redis_server import RedisProcess, redis_server_installed
from tests.servers import SSL_CONTEXT


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


@pytest.fixture(scope="session")
def legacy_url() -> Iterator[str]:
    with start_simulator("legacy") as url:
        yield url


@pytest.fixture(scope="session")
def cloud_url() -> Iterator[str]:
    with start_simulator("cloud") as url:
        yield url


@pytest.fixture(scope="session")
def gateway_env(legacy_url: str, cloud_url: str, config_dir: Path) -> dict[str, str]:
    return {
        **SIMULATOR_CREDENTIALS,
        "GATEWAY_LEGACY_URL": legacy_url,
        "GATEWAY_CLOUD_URL": cloud_url,
        "GATEWAY_DEMO_SECRET": TEST_SECRET,
        WEBHOOK_SECRET_ENV: WEBHOOK_SECRET,
        **EVENTS_SECRETS,
        "GATEWAY_CONFIG_DIR": str(config_dir),
        "GATEWAY_REDIS_URL": "",
    }


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
    with _two_gateways(gateway_env, prod_config_dir, private_redis.url) as pair:
        yield pair


@pytest.fixture(scope="session")
def cluster_gateways(
    gateway_env: dict[str, str], prod_config_dir: Path, redis_cluster: RedisClusterProcesses
) -> Iterator[tuple[str, str]]:
    """Two gateway processes sharing a three-master Redis Cluster (`redis+cluster://`)."""
    with _two_gateways(gateway_env, prod_config_dir, redis_cluster.url) as pair:
        yield pair


@contextlib.contextmanager
def _two_gateways(
    gateway_env: dict[str, str], config_dir: Path, redis_url: str
) -> Iterator[tuple[str, str]]:
    env = {**gateway_env, "GATEWAY_CONFIG_DIR": str(config_dir), "GATEWAY_REDIS_URL": redis_url}
    with start_gateway(env) as (first, _), start_gateway(env) as (second, _):
        yield first, second


@pytest.fixture(scope="session")
def ops_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(
        tmp_path_factory.mktemp("ops-config"), rate_limits=WIDE_RATE_LIMITS, resilience=RESILIENT
    )


@pytest.fixture(scope="session")
def ops_gateway_url(gateway_env: dict[str, str], ops_config_dir: Path) -> Iterator[str]:
    """A gateway of its own for the operations tests, with retries and breakers on (the shared
    one runs without: its fault tests would trip a breaker for the next test)."""
    with start_gateway(gateway_env, GATEWAY_CONFIG_DIR=str(ops_config_dir)) as (url, _):
        yield url


@pytest.fixture
def ops_api(ops_gateway_url: str, ops_config_dir: Path) -> Iterator[httpx.Client]:
    with client_for(ops_gateway_url, token_for("crm-demo", ops_config_dir)) as client:
        yield client


@pytest.fixture
def ops_admin(ops_gateway_url: str, ops_config_dir: Path) -> Iterator[httpx.Client]:
    with client_for(ops_gateway_url, token_for("ops-admin", ops_config_dir)) as client:
        yield client


@pytest.fixture(scope="session")
def token(config_dir: Path) -> str:
    return token_for("crm-demo", config_dir)


@pytest.fixture
def api(gateway_url: str, token: str) -> Iterator[httpx.Client]:
    with client_for(gateway_url, token) as client:
        yield client


@pytest.fixture
def legacy(legacy_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=legacy_url, timeout=10, verify=SSL_CONTEXT) as client:
        yield client
        client.delete("/_sim/faults")


@pytest.fixture
def cloud(cloud_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloud_url, timeout=10, verify=SSL_CONTEXT) as client:
        yield client
        client.delete("/_sim/faults")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per browser test module, closed before the next module's tests
    (which may run event loops of their own). Imported here, not at the top: without
    Playwright only the browser tests are skipped (tests/e2e/browsers.py), not this folder."""
    from tests.e2e.browsers import launched_chromium

    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def sims(legacy: httpx.Client, cloud: httpx.Client) -> dict[str, httpx.Client]:
    return {"legacy": legacy, "cloud": cloud}
