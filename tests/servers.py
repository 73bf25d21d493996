"""Real servers for tests: an ASGI app on a real socket, or a subprocess, on a free port.

Readiness is polled with a deadline; nothing sleeps on a guess.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

import httpx
import uvicorn

from gateway.sockets import SPREAD_BY_KERNEL

# Every port `free_port` handed out, held until this process ends (on Linux).
_HELD_PORTS: list[socket.socket] = []


def free_port() -> int:
    """A port on 127.0.0.1 for a server to bind by number. On Linux, held here (bound, never
    listening, with SO_REUSEADDR and SO_REUSEPORT) until this process ends: the server binds
    beside it (with SO_REUSEADDR, as most servers do, or SO_REUSEPORT, as a gateway's workers
    do) and takes every connection, while the kernel hands it to no bind to port 0. Closed at
    once, the port could go to the other pytest worker's next server while a gateway started
    here still imported itself: that gateway then found its port taken, or the test another
    test's server on it. (Elsewhere, closed at once: BSD shares a port only among sockets that
    all set SO_REUSEPORT.)"""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if SPREAD_BY_KERNEL:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    if SPREAD_BY_KERNEL:
        _HELD_PORTS.append(sock)
    else:
        sock.close()
    return port


# One SSL context for the tests' clients of plain-HTTP servers: httpx makes one for each
# client otherwise (some 25 ms of CPU each, taken from the servers under test on two cores).
SSL_CONTEXT = httpx.create_ssl_context()


def fresh_connections_client(timeout_s: float) -> httpx.Client:
    """A client that opens a new connection for each request, as `httpx.get` does, without
    `httpx.get`'s new client (and SSL context) each time."""
    return httpx.Client(
        timeout=timeout_s,
        limits=httpx.Limits(max_keepalive_connections=0),
        verify=SSL_CONTEXT,
    )


def wait_for(check: Callable[[], Any], what: str, deadline_s: float) -> Any:
    """Poll `check` until it returns something truthy (returned), or fail naming `what` once
    `deadline_s` have passed."""
    end = time.monotonic() + deadline_s
    while not (found := check()):
        assert time.monotonic() < end, f"waited {deadline_s:g} s for {what}"
        time.sleep(0.02)
    return found


def wait_until_ready(url: str, deadline_s: float = 15.0, expect: int | None = None) -> None:
    """Poll `url`, each time on a new connection, until it answers (with `expect` if given) or
    the deadline passes."""
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    with fresh_connections_client(1.0) as client:
        while time.monotonic() < end:
            try:
                response = client.get(url)
                if expect is None or response.status_code == expect:
                    return
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.05)
    raise TimeoutError(f"{url} not ready within {deadline_s}s (last error: {last})")


@contextlib.contextmanager
def serve_app(app: Any, port: int | None = None, ready_path: str = "/") -> Iterator[str]:
    """Run an ASGI app with uvicorn in a background thread; yield its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > end:
            raise RuntimeError(f"server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class ServerProcess:
    """A running subprocess and the file its output goes to."""

    def __init__(self, proc: subprocess.Popen[bytes], output: IO[bytes]) -> None:
        self.proc = proc
        self._output = output

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        self._output.flush()
        self._output.seek(0)
        return self._output.read().decode(errors="replace")


@contextlib.contextmanager
def run_process(
    args: Sequence[str],
    ready_url: str,
    env: dict[str, str] | None = None,
    deadline_s: float = 20.0,
    expect: int | None = None,
    inherit_env: bool = True,
) -> Iterator[ServerProcess]:
    """Start a subprocess, wait for `ready_url`, and always stop it (SIGTERM, then SIGKILL).

    `env` adds to this process's environment, or is the whole of it without `inherit_env`.
    Output goes to a file, never an unread pipe: a full pipe would block the server.
    """
    full_env = {**os.environ, **(env or {})} if inherit_env else dict(env or {})
    with tempfile.TemporaryFile() as output:
        # A session of its own: what it starts (a gateway's workers) can be killed with it.
        proc = subprocess.Popen(
            list(args),
            env=full_env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = ServerProcess(proc, output)
        try:
            try:
                wait_until_ready(ready_url, deadline_s, expect)
            except TimeoutError:
                _kill_all(proc)
                raise RuntimeError(
                    f"{' '.join(args)} did not become ready:\n{server.output()[-4000:]}"
                ) from None
            yield server
        finally:
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)
            _kill_all(proc)  # and whatever it left running


def _kill_all(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to `proc`'s whole process group (it leads one: `start_new_session`), then reap
    it; a group already gone is no error."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


PYTHON = sys.executable


def run_cli(
    *args: str,
    admin_token: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`gateway ARGS` in a subprocess, as a person runs it: in `env`, else in this environment
    without the test run's own `GATEWAY_` settings; with `admin_token` as GATEWAY_ADMIN_TOKEN,
    and `stdin` as its standard input."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    if admin_token is not None:
        env = {**env, "GATEWAY_ADMIN_TOKEN": admin_token}
    return subprocess.run(
        [PYTHON, "-m", "gateway.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
