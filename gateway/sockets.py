"""The sockets the gateway and the simulators listen on: bound here, before any server starts,
so that a taken port is said in a line (`PortInUse`); for several workers on Linux, an address
held for the workers to listen on side by side (SO_REUSEPORT); and how an address is written.

Not the server (see `gateway.server`): this imports nothing of the gateway, so that `gateway
simulate` starts without loading it.
"""

from __future__ import annotations

import errno
import socket
import sys
from typing import Any


class PortInUse(Exception):
    """The address to listen on is taken (another gateway, another demo, another program), or
    `denied` to this user (a port below 1024 without the right to it; another user's socket
    bound with SO_REUSEPORT)."""

    def __init__(self, host: str, port: int, denied: bool = False) -> None:
        super().__init__(f"{host}:{port}")
        self.host = host
        self.port = port
        self.denied = denied


# Linux spreads the connections to one address over the sockets listening on it with
# SO_REUSEPORT, each connection to one of them by a hash of its addresses.
SPREAD_BY_KERNEL = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")
BACKLOG = 2048


def listening_socket(host: str, port: int, *, workers: int = 1) -> socket.socket:
    """A bound socket for `host:port`; `PortInUse` when something else has it.

    Listening, for one worker (or where the kernel does not spread connections). For several
    workers on Linux, a socket that holds the address without listening, and each worker
    listens on a socket of its own there once it has started (`run`). On one shared socket,
    the connections a client opens at once (a pool, a load balancer's) were all accepted by
    the worker that woke first (32 of 32 under the benchmark's load), and the other one idled."""
    spread = workers > 1 and SPREAD_BY_KERNEL
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        if spread:
            # A plain bind first (SO_REUSEADDR, as servers bind): it fails where another
            # server listens, or where another gateway's workers are starting (its holder).
            bound(family, (host, port), reuse_address=True).close()
            sock = _holder(family, (host, port))
        else:
            sock = bound(family, (host, port), reuse_address=True)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUse(host, port, denied=exc.errno == errno.EACCES) from None
        raise
    if not spread:
        sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def _holder(family: socket.AddressFamily, address: Any) -> socket.socket:
    """The parent's socket while its workers run: SO_REUSEPORT without SO_REUSEADDR, so that
    its workers (SO_REUSEPORT, the same user) bind beside it, and nothing else can: two
    sockets with SO_REUSEADDR may share an address while neither listens, which would let a
    second gateway or another server in while this one's workers start. Where connections
    of an earlier server without SO_REUSEPORT linger in TIME_WAIT (their address is only
    reusable with SO_REUSEADDR), it holds the address with both, as the workers do."""
    try:
        return bound(family, address, reuse_address=False, reuse_port=True)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        return bound(family, address, reuse_address=True, reuse_port=True)


def bound(
    family: socket.AddressFamily, address: Any, *, reuse_address: bool, reuse_port: bool = False
) -> socket.socket:
    """A TCP socket bound to `address` (closed again if it cannot be)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def host_port(host: str, port: int) -> str:
    """`host:port` as a URL writes it: an IPv6 literal in brackets (`[::1]:8080`, RFC 3986
    3.2.2), its zone's `%` escaped (`[fe80::1%25eth0]`, RFC 6874); `::1:8080` is no address."""
    if ":" in host:
        return f"[{host.replace('%', '%25')}]:{port}"
    return f"{host}:{port}"


def http_url(host: str, port: int) -> str:
    """The URL of what listens on `host:port` (`0.0.0.0` and `::`, every address, as given:
    where a client on this host reaches it, and what the operator typed)."""
    return f"http://{host_port(host, port)}"
