"""`gateway plan`: what a new routes.yaml would change, for review before it goes live; with
`--shadow`, the shadow match rate of each legal entity that moves (from a running gateway)."""

from __future__ import annotations

import argparse
import time

from gateway.admin_client import DEFAULT_URL, url_argument
from gateway.cli.arguments import add_config_dir
from gateway.cli.base import CommandError, config_dir
from gateway.cli.remote import admin_client
from gateway.config.issues import BACKENDS_DIR, ConfigError
from gateway.config.loader import load_routes
from gateway.routing.plan import plan as route_plan
from gateway.routing.rules import compile_routes
from gateway.routing.shadow_report import match_rates


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", help="the routes.yaml in force")
    parser.add_argument("new", help="the routes.yaml proposed")
    parser.add_argument(
        "--shadow",
        action="store_true",
        help="print the shadow match rate beside each legal entity that moves (asks a running "
        "gateway: --url)",
    )
    parser.add_argument(
        "--url", type=url_argument, default=DEFAULT_URL, help="the running gateway --shadow asks"
    )
    add_config_dir(parser)
    parser.set_defaults(func=plan)


def plan(args: argparse.Namespace) -> int:
    try:
        old, new = load_routes(args.old), load_routes(args.new)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot read {exc.filename}: {exc.strerror}") from None
    directory = config_dir(args.config_dir)
    present = {p.stem for p in (directory / BACKENDS_DIR).glob("*.yaml")}
    targets = {backend for rule in new.rules for backend in rule.targets}
    unknown = sorted(targets | {new.default_backend}) if present else []
    for backend in (b for b in unknown if b not in present):
        print(f"warning: {args.new} routes to {backend!r}, not a backend in {directory}")
    change = route_plan(compile_routes(old), compile_routes(new), time.time())
    rates = None
    if args.shadow:
        with admin_client(args) as client:
            rates = match_rates(client.shadow_report()["scopes"])
    print(change.text(rates))
    return 0
