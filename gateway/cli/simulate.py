"""`gateway simulate`: one ERP simulator (SAP-style legacy or NetSuite-style cloud), as its
flags say; `gateway demo` runs both with their defaults."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from starlette.applications import Starlette

import erp_simulators.sap
from erp_simulators.netsuite.app import add_options as add_cloud_options
from erp_simulators.netsuite.app import app_from_options
from erp_simulators.netsuite.app import create_app as create_cloud_app
from gateway.cli.arguments import listen_host, port
from gateway.cli.listening import listen
from gateway.quiet_stop import QuietServer
from gateway.sockets import http_url

DEMO_PORTS = {"gateway": 8080, "legacy": 9101, "cloud": 9102}
SIMULATOR_KEEPALIVE_S = 75  # seconds an idle connection to a simulator stays open


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("erp", choices=["legacy", "cloud"], help="which ERP")
    parser.add_argument(
        "--host",
        type=listen_host,
        default="127.0.0.1",
        help="the address to listen on (an IPv6 address with or without brackets)",
    )
    parser.add_argument(
        "--port", type=port, help="the port (default: 9101 for legacy, 9102 for cloud)"
    )
    parser.add_argument(
        "--no-custom-fields",
        action="store_true",
        help="a system without the custom fields the gateway relies on (SAP: "
        "YY1_GatewayRef_SDH, YY1_CreditLimit_bus; NetSuite: custbody_credit_hold)",
    )
    erp_simulators.sap.add_options(
        parser.add_argument_group("legacy ERP (SAP) only"), custom_fields_flag=False
    )
    add_cloud_options(
        parser.add_argument_group("cloud ERP (NetSuite) only"), custom_fields_flag=False
    )
    parser.set_defaults(func=simulate)


def simulate(args: argparse.Namespace) -> int:
    at = args.port or DEMO_PORTS[args.erp]
    sock = listen(args.host, at, f"--port {at + 1}")
    config = uvicorn.Config(
        simulator(args.erp, args),
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=5,  # a simulated hang must not hold a shutdown for long
        # As an ERP's front end (nginx's default): longer than the gateway keeps an idle
        # connection (pool.keepalive_s), so that the gateway never sends a request on a
        # connection the ERP is closing at that moment (a write whose outcome is unknown).
        timeout_keep_alive=SIMULATOR_KEEPALIVE_S,
    )
    print(f"{args.erp} ERP simulator on {http_url(args.host, at)}", file=sys.stderr)
    # Ctrl-C twice (the first waits for the requests in flight): no traceback of what it drops.
    QuietServer(config).run(sockets=[sock])
    return 0


def simulator(erp: str, args: argparse.Namespace | None = None) -> Starlette:
    """A simulator app, as `gateway simulate`'s flags say (defaults otherwise)."""
    if erp == "legacy":
        options = erp_simulators.sap.options_from(args) if args is not None else None
        return erp_simulators.sap.create_app(options=options)
    return app_from_options(args) if args is not None else create_cloud_app()
