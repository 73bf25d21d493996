"""The tests' free ports (`tests/servers.free_port`): a port handed to a server started later (a
subprocess that takes a second to import the gateway) stays out of the kernel's hands until
then, so that the other pytest worker's next server on port 0 is never given it meanwhile."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from gateway.sockets import SPREAD_BY_KERNEL, listening_socket
from tests.redis_cluster import BUS_OFFSET, PORT_RANGE, cluster_port, ephemeral_ports
from tests.servers import free_port

HOST = "127.0.0.1"


@pytest.mark.skipif(not SPREAD_BY_KERNEL, reason="held on Linux only")
def test_a_free_port_is_taken_to_a_bind_that_does_not_share_it() -> None:
    # As the kernel judges a port for a bind to port 0 (the other worker's next server): taken.
    # (A server that binds it by number shares it: see the tests below.)
    with socket.socket() as plain, pytest.raises(OSError) as taken:
        plain.bind((HOST, free_port()))
    assert taken.value.errno == errno.EADDRINUSE


def test_a_server_binds_its_free_port_and_takes_its_connections() -> None:
    port = free_port()
    with socket.socket() as server:  # as uvicorn, aiohttp and redis-server bind
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((HOST, port))
        server.listen()
        with socket.create_connection((HOST, port), timeout=5):
            accepted, _ = server.accept()
            accepted.close()


@pytest.mark.skipif(not SPREAD_BY_KERNEL, reason="a socket per worker on Linux only")
def test_a_gateway_with_workers_binds_its_free_port_beside_them() -> None:
    port = free_port()
    holder = listening_socket(HOST, port, workers=2)  # SO_REUSEPORT without SO_REUSEADDR
    holder.close()


@pytest.mark.skipif(not Path(PORT_RANGE).exists(), reason="Linux's ephemeral port range")
def test_a_cluster_nodes_ports_are_none_the_kernel_hands_out() -> None:
    # A node is bound by number a moment after its ports were found free, and bound again on
    # them after a restart: an outgoing connection or a bind to port 0 must not take them.
    ephemeral = ephemeral_ports()
    for _ in range(50):
        port = cluster_port()
        assert port not in ephemeral and port + BUS_OFFSET not in ephemeral, port
