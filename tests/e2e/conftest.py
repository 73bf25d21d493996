"""End-to-end fixtures: both simulators and `gateway serve` as real processes on free ports."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.config.loader import load_config
from gateway.demo import SIMULATOR_CREDENTIALS, demo_issuer, mint_token
from tests.servers import PYTHON, free_port, run_process

REPO = Path(__file__).resolve().parents[2]
TEST_SECRET = "e2e-test-secret-not-the-dev-one-0123456789"
ERP_TIMEOUT_S = 1.5
# A wave moving FR01 to the cloud ERP, so that each ERP serves one EU legal entity in the tests.
FR01_WAVE = """  - id: fr01-wave-2
    match: {legal_entities: [FR01]}
    backend: cloud
"""  # the backends' timeout_s in the e2e config, short so timeout tests are fast


@pytest.fixture(scope="session")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's config with short ERP timeouts and FR01 on the cloud ERP."""
    target = tmp_path_factory.mktemp("config")
    routes = (REPO / "routes.yaml").read_text()
    assert "\nrules:\n" in routes, "the e2e config adds a rule at the top of routes.yaml"
    (target / "routes.yaml").write_text(routes.replace("\nrules:\n", "\nrules:\n" + FR01_WAVE, 1))
    shutil.copytree(REPO / "policies", target / "policies")
    (target / "backends").mkdir()
    for backend in (REPO / "backends").glob("*.yaml"):
        text = re.sub(r"(?m)^timeout_s: .*$", f"timeout_s: {ERP_TIMEOUT_S}", backend.read_text())
        (target / "backends" / backend.name).write_text(text)
    return target


@pytest.fixture(scope="session")
def legacy_url() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PYTHON, "-m", "gateway.cli", "simulate", "legacy", "--port", str(port)]
    with run_process(args, url + "/_sim/stats", expect=200):
        yield url


@pytest.fixture(scope="session")
def cloud_url() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PYTHON, "-m", "gateway.cli", "simulate", "cloud", "--port", str(port)]
    with run_process(args, url + "/_sim/stats", expect=200):
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


@pytest.fixture(scope="session")
def gateway_url(gateway_env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PYTHON, "-m", "gateway.cli", "serve", "--port", str(port)]
    with run_process(args, url + "/readyz", env=gateway_env, expect=200):
        yield url


@pytest.fixture(scope="session")
def token(config_dir: Path) -> str:
    issuer = demo_issuer(load_config(config_dir, env={"GATEWAY_DEMO_SECRET": "x"}).auth)
    return mint_token(issuer, TEST_SECRET, "crm-demo")


@pytest.fixture
def api(gateway_url: str, token: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=10) as client:
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
