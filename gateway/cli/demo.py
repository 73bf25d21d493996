"""`gateway demo`: the gateway and both ERP simulators in one process, ready for the README's
tour, with a demo token and the requests logged one line each."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Mapping
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.app import build_app
from gateway.cli.arguments import add_config_dir, port
from gateway.cli.base import REDIS_URL_ENV, CommandError, config_dir, load, log_level
from gateway.cli.listening import listen
from gateway.cli.serve import add_limits, limits
from gateway.cli.simulate import DEMO_PORTS, simulator
from gateway.demo import (
    DEMO_SECRET_ENV,
    connect_notifications,
    demo_environment,
    demo_issuer,
    mint_token,
    tour,
)
from gateway.observability.logging import UVICORN_LOGGER, configure_logging, say
from gateway.observability.spans import telemetry_from_env
from gateway.quiet_stop import QuietServer, quiet
from gateway.runtime import build_runtime
from gateway.server import DRAIN_S, GatewayServer, GatewayServerConfig
from gateway.store.opening import open_store

# How long a simulator waits, once the gateway has drained, for requests it still holds.
SIMULATOR_DRAIN_S = 1


def arguments(parser: argparse.ArgumentParser) -> None:
    add_config_dir(parser)
    parser.add_argument(
        "--port", type=port, default=DEMO_PORTS["gateway"], help="the gateway's port"
    )
    parser.add_argument(
        "--legacy-port",
        type=port,
        default=DEMO_PORTS["legacy"],
        help="the SAP-style simulator's port",
    )
    parser.add_argument(
        "--cloud-port",
        type=port,
        default=DEMO_PORTS["cloud"],
        help="the NetSuite-style simulator's port",
    )
    add_limits(parser)
    parser.set_defaults(func=demo)


def demo(args: argparse.Namespace) -> int:
    log_level()
    ports = {"gateway": args.port, "legacy": args.legacy_port, "cloud": args.cloud_port}
    if len(set(ports.values())) != len(ports):
        raise CommandError("the gateway and the two simulators need three different ports")
    options = {"gateway": "--port", "legacy": "--legacy-port", "cloud": "--cloud-port"}
    make = {"gateway": "PORT", "legacy": "LEGACY_PORT", "cloud": "CLOUD_PORT"}
    sockets: dict[str, socket.socket] = {}
    try:
        for name, at in ports.items():
            # The next port up that is none of the others (it would be refused as given
            # twice); at 65535, none is above it.
            other = next((p for p in range(at + 1, 65536) if p not in ports.values()), at)
            instead = f"make run {make[name]}={other} (gateway demo {options[name]} {other})"
            sockets[name] = listen("127.0.0.1", at, instead)
        asyncio.run(_serve(args, sockets))
    except KeyboardInterrupt:
        pass
    finally:
        for sock in sockets.values():
            sock.close()
    return 0


async def _serve(args: argparse.Namespace, sockets: Mapping[str, socket.socket]) -> None:
    legacy_url = f"http://127.0.0.1:{args.legacy_port}"
    cloud_url = f"http://127.0.0.1:{args.cloud_port}"
    for warning in demo_environment(os.environ, legacy_url, cloud_url):
        print(warning, file=sys.stderr)
    configure_logging(log_level(), short=True)
    directory = config_dir(args.config_dir)
    config = load(directory, serving=True)
    try:
        store = open_store(os.environ.get(REDIS_URL_ENV))
    except ValueError as exc:
        raise CommandError(f"{REDIS_URL_ENV}: {exc}") from None
    server_limits = limits(args)
    gateway_app = build_app(
        build_runtime(config, store, demo=True),
        config_dir=directory,
        telemetry=telemetry_from_env(os.environ),
        body_timeout_s=server_limits.body_timeout_s,
    )

    def simulated(erp: str) -> uvicorn.Config:
        # uvicorn's lines in the demo's format (`configure_logging`), not uvicorn's, each
        # naming the simulator that wrote it.
        return uvicorn.Config(
            simulator(erp),
            http=_logged_as(f"{erp}-erp"),
            log_level="warning",
            log_config=None,
            server_header=False,
            # They stop once the gateway has drained: a request one still holds then (a
            # `timeout` fault's, two minutes; a client's that never sends its body) is no
            # answer anyone waits for, and would keep Ctrl-C from stopping the demo.
            timeout_graceful_shutdown=SIMULATOR_DRAIN_S,
        )

    # Served in this order: each server takes SIGINT from the one before it, and a server
    # that has stopped raises the signal again for the one before it (uvicorn's), so Ctrl-C
    # stops the gateway first, as `gateway serve` stops (its lines say how the drain went),
    # and the simulators once it has drained: they answer the requests it is finishing.
    servers: dict[str, uvicorn.Server] = {
        "legacy": QuietServer(simulated("legacy")),
        "cloud": QuietServer(simulated("cloud")),
        "gateway": GatewayServer(
            GatewayServerConfig(
                gateway_app,
                limits=server_limits,
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=DRAIN_S,
            )
        ),
    }
    token = mint_token(demo_issuer(config.auth), os.environ[DEMO_SECRET_ENV], "crm-demo")
    tasks = [asyncio.create_task(s.serve(sockets=[sockets[n]])) for n, s in servers.items()]
    while not all(s.started for s in servers.values()):
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    else:
        gateway_url = f"http://127.0.0.1:{args.port}"
        simulators = {"legacy": legacy_url, "cloud": cloud_url}
        pushing = await connect_notifications(config, os.environ, gateway_url, simulators)
        # Requests may be served meanwhile: their lines go between these, never inside them.
        say(
            f"ERP change notifications: {', '.join(pushing) or 'none'} push to the gateway\n"
            + tour(gateway_url, legacy_url, cloud_url, token)
            + "\nRequests to the gateway appear below, one line each. Ctrl-C stops the demo.\n"
        )
    await asyncio.gather(*tasks)


def _logged_as(name: str) -> type[HttpToolsProtocol]:
    """uvicorn's HTTP protocol, its lines (`Invalid HTTP request received.`, an exception in
    the app) written by the logger `name` rather than `uvicorn.error`: the three servers of the
    demo share one process, and a line of the simulators' would not say which wrote it. The
    logger writes where uvicorn's do (`configure_logging`), at the simulators' level."""
    logger = logging.getLogger(name)
    logger.handlers[:] = logging.getLogger(UVICORN_LOGGER).handlers
    logger.propagate = False
    # Set, not inherited: the protocol reads `logger.level` itself to skip its trace lines.
    logger.setLevel(logging.WARNING)
    quiet(name)  # Ctrl-C twice: no traceback of a request the simulator abandons

    class Logged(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.logger = logger

    return Logged
