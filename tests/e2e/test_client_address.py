"""The caller's network address in the access log (`client_ip`): the peer's, or the client a
trusted proxy names in X-Forwarded-For (`gateway serve --forwarded-allow-ips`), never the one
an untrusted peer claims. Over real sockets: the gateway listens on 127.0.0.1, and each test
connects from another loopback address, the proxy's (127.0.0.2) or a stranger's (127.0.0.3)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.gateways import start_gateway, token_for
from tests.servers import ServerProcess

PROXY = "127.0.0.2"  # the one trusted proxy
STRANGER = "127.0.0.3"  # any other peer
CLIENT = "203.0.113.7"  # the address the proxy says its client has
LOG_WAIT_S = 5.0  # at most: the access log is written within about 50 ms


@pytest.fixture(scope="module")
def behind_proxy(gateway_env: dict[str, str]) -> Iterator[tuple[str, ServerProcess]]:
    env = {**gateway_env, "GATEWAY_LOG_LEVEL": "INFO"}
    with start_gateway(env, "--forwarded-allow-ips", PROXY) as started:
        yield started


def _from(address: str, url: str, token: str) -> httpx.Client:
    """A client whose connections come from `address` (a loopback address of this host)."""
    return httpx.Client(
        base_url=url,
        transport=httpx.HTTPTransport(local_address=address),
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )


def _access_line(proc: ServerProcess, correlation_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        found = [
            json.loads(line)
            for line in proc.output().splitlines()
            if line.startswith("{") and correlation_id in line and '"gateway.access"' in line
        ]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.05)


def _paths(admin: str, token: str) -> list[tuple[str, str]]:
    """A request of each kind the gateway logs: the domain API, the admin API, the others."""
    return [
        ("/v1/customers/cus_missing", token),
        ("/admin/config", admin),
        ("/healthz", token),
    ]


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["domain", "admin", "health"])
def test_the_access_log_records_the_peers_address(
    behind_proxy: tuple[str, ServerProcess], config_dir: Path, token: str, kind: int
) -> None:
    url, proc = behind_proxy
    path, credential = _paths(token_for("ops-admin", config_dir), token)[kind]
    correlation_id = str(uuid.uuid4())
    with _from(STRANGER, url, credential) as api:
        api.get(path, headers={"X-Correlation-ID": correlation_id})
    assert _access_line(proc, correlation_id)["client_ip"] == STRANGER


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["domain", "admin", "health"])
def test_a_trusted_proxys_forwarded_for_names_the_client_logged(
    behind_proxy: tuple[str, ServerProcess], config_dir: Path, token: str, kind: int
) -> None:
    url, proc = behind_proxy
    path, credential = _paths(token_for("ops-admin", config_dir), token)[kind]
    correlation_id = str(uuid.uuid4())
    with _from(PROXY, url, credential) as api:
        # What the client wrote itself comes first; the proxy appends the peer it saw.
        forwarded = f"198.51.100.66, {CLIENT}"
        api.get(path, headers={"X-Correlation-ID": correlation_id, "X-Forwarded-For": forwarded})
    assert _access_line(proc, correlation_id)["client_ip"] == CLIENT


def test_an_untrusted_peers_forwarded_for_is_ignored(
    behind_proxy: tuple[str, ServerProcess], token: str
) -> None:
    url, proc = behind_proxy
    correlation_id = str(uuid.uuid4())
    # 127.0.0.1 is a proxy by default, but not when the operator names another.
    for peer in (STRANGER, "127.0.0.1"):
        with _from(peer, url, token) as api:
            api.get(
                "/v1/customers/cus_missing",
                headers={"X-Correlation-ID": correlation_id + peer, "X-Forwarded-For": CLIENT},
            )
        assert _access_line(proc, correlation_id + peer)["client_ip"] == peer


def test_an_admin_reload_through_the_proxy_is_audited_with_the_clients_address(
    behind_proxy: tuple[str, ServerProcess], config_dir: Path
) -> None:
    url, _ = behind_proxy
    with _from(PROXY, url, token_for("ops-admin", config_dir)) as ops:
        reloaded = ops.post("/admin/config/reload", headers={"X-Forwarded-For": CLIENT})
        assert reloaded.status_code == 200, reloaded.text
        audit = [json.loads(line) for line in ops.get("/admin/audit").text.splitlines()]
    reloads = [(a["actor"], a.get("client_ip")) for a in audit if a["kind"] == "config.reloaded"]
    assert reloads == [("admin ops-admin", CLIENT)]
    (loaded,) = [a for a in audit if a["kind"] == "config.loaded"]
    assert "client_ip" not in loaded  # at start-up: no request, no address


def test_a_dual_stack_gateway_trusts_its_ipv4_proxy_and_logs_ipv4_peers_as_such(
    gateway_env: dict[str, str], token: str
) -> None:
    # Listening on :: takes IPv4 connections too, their peers seen as ::ffff:a.b.c.d.
    env = {**gateway_env, "GATEWAY_LOG_LEVEL": "INFO"}
    with start_gateway(env, "--host", "::", "--forwarded-allow-ips", PROXY) as (url, proc):
        for peer, said in ((PROXY, CLIENT), (STRANGER, STRANGER)):
            correlation_id = str(uuid.uuid4())
            with _from(peer, url, token) as api:
                api.get(
                    "/v1/customers/cus_missing",
                    headers={"X-Correlation-ID": correlation_id, "X-Forwarded-For": CLIENT},
                )
            assert _access_line(proc, correlation_id)["client_ip"] == said


# Last in the file: its reloads come after the one the audit test above expects to be the first.
@pytest.mark.parametrize("forwarded", ["unknown", f"{CLIENT}, unknown", 'x" admin="1'])
def test_a_trusted_proxys_forwarded_for_that_is_no_address_logs_and_audits_the_proxy(
    behind_proxy: tuple[str, ServerProcess], config_dir: Path, forwarded: str
) -> None:
    url, proc = behind_proxy
    correlation_id = str(uuid.uuid4())
    with _from(PROXY, url, token_for("ops-admin", config_dir)) as ops:
        headers = {"X-Correlation-ID": correlation_id, "X-Forwarded-For": forwarded}
        reloaded = ops.post("/admin/config/reload", headers=headers)
        assert reloaded.status_code == 200, reloaded.text
        audit = [json.loads(line) for line in ops.get("/admin/audit").text.splitlines()]

    # Not the text as given: the address the gateway can vouch for, its proxy's.
    assert _access_line(proc, correlation_id)["client_ip"] == PROXY
    assert [a.get("client_ip") for a in audit if a["kind"] == "config.reloaded"][-1] == PROXY
