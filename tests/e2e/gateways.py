"""Gateway processes for end-to-end tests: start one, mint its tokens, talk to it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from gateway.config.loader import load_config
from gateway.demo import demo_issuer, mint_token
from tests.configs import TEST_SECRET
from tests.servers import (
    PYTHON,
    SSL_CONTEXT,
    ServerProcess,
    free_port,
    fresh_connections_client,
    run_process,
)

JOURNAL_WAIT_S = 5.0  # at most: each process writes its journal entries within about 50 ms


@contextlib.contextmanager
def start_simulator(erp: str) -> Iterator[str]:
    """`gateway simulate ERP` on a free port, once it answers; its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PYTHON, "-m", "gateway.cli", "simulate", erp, "--port", str(port)]
    with run_process(args, url + "/_sim/stats", expect=200):
        yield url


@contextlib.contextmanager
def start_gateway(
    env: dict[str, str], *extra_args: str, **overrides: str
) -> Iterator[tuple[str, ServerProcess]]:
    """One `gateway serve` process (with `extra_args`); yields its base URL and the process."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PYTHON, "-m", "gateway.cli", "serve", "--port", str(port), *extra_args]
    with run_process(args, url + "/readyz", env={**env, **overrides}, expect=200) as proc:
        yield url, proc


@contextlib.contextmanager
def start_workers(
    env: dict[str, str], config_dir: Path, redis_url: str, workers: int = 2
) -> Iterator[tuple[str, ServerProcess]]:
    """`gateway serve --workers N` with `config_dir`'s configuration on the Redis at
    `redis_url` (several workers need a shared store); each worker's metrics go to a fresh
    directory, as `gateway serve` makes when none is given."""
    env = {**env, "GATEWAY_CONFIG_DIR": str(config_dir), "GATEWAY_REDIS_URL": redis_url}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with start_gateway(env, "--workers", str(workers)) as started:
        yield started


def token_for(client_id: str, config_dir: Path) -> str:
    issuer = demo_issuer(load_config(config_dir, env={"GATEWAY_DEMO_SECRET": "x"}).auth)
    return mint_token(issuer, TEST_SECRET, client_id)


def client_for(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
        verify=SSL_CONTEXT,
    )


def instance_of(
    url: str, admin: dict[str, str], correlation_id: str, client: httpx.Client | None = None
) -> str:
    """The gateway process (worker) that served a journaled request, from its journal entry
    (which each process writes from a buffer within about 50 ms: the last may not be there).
    Asked with `client` (a new connection each time, see `fresh_connections_client`)."""
    with contextlib.ExitStack() as stack:
        asking = client or stack.enter_context(fresh_connections_client(15))
        deadline = time.monotonic() + JOURNAL_WAIT_S
        while True:
            found = asking.get(
                f"{url}/admin/transactions",
                params={"correlation_id": correlation_id},
                headers=admin,
            ).json()["items"]
            if found or time.monotonic() > deadline:
                assert found, f"no journal entry for {correlation_id}"
                instance: str = found[0]["instance"]
                return instance
            time.sleep(0.05)
