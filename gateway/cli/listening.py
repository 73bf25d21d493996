"""The socket a command serves on, or one or two lines that say why it cannot have it and
which option to give instead."""

from __future__ import annotations

import socket

from gateway.cli.base import CommandError
from gateway.sockets import PortInUse, host_port, listening_socket


def listen(host: str, port: int, instead: str, workers: int = 1) -> socket.socket:
    try:
        return listening_socket(host, port, workers=workers)
    except PortInUse as taken:
        if taken.denied:
            raise CommandError(
                f"no permission to listen on port {port} on {host} (a port below 1024 needs "
                "root or CAP_NET_BIND_SERVICE; or another user's server holds it).\n"
                f"Choose another port: {instead}."
            ) from None
        raise CommandError(
            f"port {port} on {host} is already in use (another gateway or demo running?).\n"
            f"Stop what is using it, or choose another port: {instead}."
        ) from None
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {host_port(host, port)}: {exc.strerror or exc}"
        ) from None
