"""The sockets `gateway serve --workers N` listens on (Linux): the parent holds the address so
that nothing but its own workers can have it, each worker listens on a socket of its own once
it has started, and a worker that cannot start stops the gateway with a failure."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from gateway.server import worker_socket
from gateway.sockets import SPREAD_BY_KERNEL, PortInUse, listening_socket
from tests.servers import free_port

HOST = "127.0.0.1"

pytestmark = pytest.mark.skipif(
    not SPREAD_BY_KERNEL,
    reason=f"each worker has a socket of its own on Linux only, not {sys.platform}",
)


@pytest.fixture
def held() -> Iterator[tuple[socket.socket, int]]:
    """The parent's socket of a gateway with two workers, as it is while they start."""
    port = free_port()
    holder = listening_socket(HOST, port, workers=2)
    try:
        yield holder, port
    finally:
        holder.close()


def test_while_the_workers_start_a_second_gateway_is_refused(
    held: tuple[socket.socket, int],
) -> None:
    holder, port = held
    assert not holder.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)  # nobody listens yet
    for workers in (2, 1):
        with pytest.raises(PortInUse):
            listening_socket(HOST, port, workers=workers)


def test_while_the_workers_start_no_other_server_can_bind_the_port(
    held: tuple[socket.socket, int],
) -> None:
    _, port = held
    with socket.socket() as other:  # as most servers bind
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with pytest.raises(OSError) as refused:
            other.bind((HOST, port))
    assert refused.value.errno == errno.EADDRINUSE


def test_each_worker_binds_beside_the_holder_and_takes_connections_once_it_listens(
    held: tuple[socket.socket, int],
) -> None:
    holder, port = held
    first, second = (worker_socket(holder.family, holder.getsockname()) for _ in range(2))
    try:
        assert not first.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        with pytest.raises(ConnectionRefusedError):  # bound, not listening: not handed any
            socket.create_connection((HOST, port), timeout=2).close()
        first.listen()
        with socket.create_connection((HOST, port), timeout=2):
            accepted, _ = first.accept()
            accepted.close()
    finally:
        first.close()
        second.close()


FAILING_WORKERS = textwrap.dedent(
    """
    import sys
    from gateway.server import GatewayServerConfig, ServerLimits, StartupFailed
    from gateway.server import run
    from gateway.sockets import listening_socket

    async def app(scope, receive, send):  # its start-up fails, as a broken app's would
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "broken on purpose"})

    config = GatewayServerConfig(
        "__main__:app", limits=ServerLimits(), workers=2, lifespan="on", log_level="critical"
    )
    try:
        run(config, listening_socket("127.0.0.1", int(sys.argv[1]), workers=2))
    except StartupFailed:
        sys.exit(42)
    """
)


def test_workers_that_cannot_start_stop_the_gateway_with_a_failure() -> None:
    # Before, the supervisor stopped and `gateway serve` exited 0: a clean stop to systemd.
    done = subprocess.run(
        [sys.executable, "-c", FAILING_WORKERS, str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 42, done.stderr[-2000:]
