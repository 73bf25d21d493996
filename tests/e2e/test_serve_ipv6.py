"""`gateway serve --host` an IPv6 address: it serves there, and its banner's URL is one a
client can open (`http://[::1]:8080`, not `http://::1:8080`); `::` takes IPv4 clients too
where the host's IPv6 sockets do (Linux's default)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.sockets import SPREAD_BY_KERNEL
from tests.redis_server import RedisProcess
from tests.servers import PYTHON, ServerProcess, run_process


def _ipv6_loopback_port() -> int | None:
    """A free port on ::1, or None where the host has no IPv6 loopback."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
            return int(sock.getsockname()[1])
    except OSError:
        return None


pytestmark = pytest.mark.skipif(
    _ipv6_loopback_port() is None, reason="this host has no IPv6 loopback (::1)"
)


@contextlib.contextmanager
def _serve_on(
    env: dict[str, str], host: str, *extra_args: str
) -> Iterator[tuple[int, ServerProcess]]:
    port = _ipv6_loopback_port()
    assert port is not None
    args = [PYTHON, "-m", "gateway.cli", "serve", "--host", host, "--port", str(port)]
    with run_process([*args, *extra_args], f"http://[::1]:{port}/readyz", env, expect=200) as proc:
        yield port, proc


def _banner_url(output: str) -> str:
    found = re.search(r"^gateway serve: (\S+) ", output, re.MULTILINE)
    assert found, output
    return found.group(1)


def test_serve_on_ipv6_loopback_prints_a_url_that_answers(gateway_env: dict[str, str]) -> None:
    with _serve_on(gateway_env, "::1") as (port, proc):
        url = _banner_url(proc.output())
        assert url == f"http://[::1]:{port}"
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200


def test_serve_on_a_bracketed_ipv6_literal_as_a_url_writes_it_serves_there(
    gateway_env: dict[str, str],
) -> None:
    # `--host [::1]`, copied from `http://[::1]:8080`, was refused: "cannot listen on ...".
    with _serve_on(gateway_env, "[::1]") as (port, proc):
        url = _banner_url(proc.output())
        assert url == f"http://[::1]:{port}"
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200


def test_a_refusal_from_an_ipv6_peer_logs_it_bracketed(gateway_env: dict[str, str]) -> None:
    # A request refused before it was framed: its access line's `client` was `::1:5555`.
    with _serve_on(gateway_env, "::1") as (port, proc):
        with socket.create_connection(("::1", port), timeout=10) as sock:
            at = sock.getsockname()[1]
            sock.sendall(b"GARBAGE\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        found = re.search(rb"\r\nx-correlation-id: ([-0-9a-f]+)\r\n", answer, re.IGNORECASE)
        assert found, answer
        correlation_id = found.group(1).decode()
        deadline = time.monotonic() + 20
        while correlation_id not in proc.output():
            assert time.monotonic() < deadline, proc.output()
            time.sleep(0.02)
        line = next(x for x in proc.output().splitlines() if correlation_id in x)
    assert json.loads(line)["client"] == f"[::1]:{at}", line


def test_serve_on_every_ipv6_address_prints_it_bracketed_and_answers_ipv4_too(
    gateway_env: dict[str, str],
) -> None:
    with _serve_on(gateway_env, "::") as (port, proc):
        assert _banner_url(proc.output()) == f"http://[::]:{port}"
        v6only = Path("/proc/sys/net/ipv6/bindv6only")
        if v6only.exists() and v6only.read_text().strip() == "0":
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert answer.status_code == 200


@pytest.mark.redis
@pytest.mark.skipif(
    not SPREAD_BY_KERNEL,
    reason=f"each worker listens on its own socket on Linux only, not {sys.platform}",
)
def test_workers_each_listen_on_ipv6_loopback(
    gateway_env: dict[str, str], config_dir: Path, private_redis: RedisProcess
) -> None:
    env = {
        **gateway_env,
        "GATEWAY_CONFIG_DIR": str(config_dir),
        "GATEWAY_REDIS_URL": private_redis.url,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with _serve_on(env, "::1", "--workers", "2") as (port, proc):
        assert _banner_url(proc.output()) == f"http://[::1]:{port}"
        assert httpx.get(f"http://[::1]:{port}/healthz", timeout=5).status_code == 200
