"""`gateway explain`: which rule and backend a request would get, and why; from the files here
and the gateway's store, or from a running gateway (`--url`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from gateway.admin_client import ADMIN_TOKEN_ENV, url_argument
from gateway.cli.arguments import add_config_dir, iso_time
from gateway.cli.base import REDIS_URL_ENV, CommandError, config_dir, load
from gateway.cli.remote import admin_client
from gateway.pipeline.routing import customer_read_placement
from gateway.routing.explain import explain
from gateway.routing.rules import compile_routes
from gateway.store.base import StoreUnavailable, XrefRecord
from gateway.store.opening import open_store, store_description


def arguments(parser: argparse.ArgumentParser) -> None:
    add_config_dir(parser)
    parser.add_argument("--operation", required=True, help="e.g. sales_orders.create")
    parser.add_argument("--legal-entity", required=True, help="e.g. DE01")
    parser.add_argument(
        "--customer-id",
        help="a customer's gateway id: its home ERP, and its share under a canary split",
    )
    parser.add_argument(
        "--external-ref", help="a new customer's external_ref: its share under a canary split"
    )
    parser.add_argument("--at", type=iso_time, help="an ISO 8601 time (default: now)")
    parser.add_argument(
        "--url",
        type=url_argument,
        help="ask this running gateway instead (its routes as it serves them, and the "
        f"customer's home from its store; an admin token from ${ADMIN_TOKEN_ENV})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.url is not None:
        return _explain_remotely(args)
    config = load(config_dir(args.config_dir))
    record = None
    if args.customer_id and not os.environ.get(REDIS_URL_ENV):
        # A store in memory is another process's (a demo's): this one would find nothing.
        print(
            f"note: the customer's home ERP is not shown: this command reads the gateway's "
            f"store through {REDIS_URL_ENV}, which is not set (or ask a running gateway, "
            "its routes and its store: --url URL)",
            file=sys.stderr,
        )
    elif args.customer_id:
        record = asyncio.run(_customer_record(args.customer_id))
        if record is None:
            _no_home(args.customer_id)
    table = compile_routes(config.routes)
    placed = None
    if record is not None:
        placed = customer_read_placement(table, args.operation, args.legal_entity, record, args.at)
    try:
        explanation = explain(
            table,
            args.operation,
            args.legal_entity,
            customer_home=record.backend if record is not None else None,
            customer_id=args.customer_id,
            external_ref=args.external_ref,
            at=args.at,
            placed=placed,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(explanation.text())
    return 0


def _no_home(customer_id: str) -> None:
    print(f"note: customer {customer_id} is not in the gateway's store", file=sys.stderr)


def _explain_remotely(args: argparse.Namespace) -> int:
    """The running gateway's explanation (`POST /admin/routes/explain`): its routes as it
    serves them, and the customer's home from its store, whichever store that is."""
    body: dict[str, Any] = {"operation": args.operation, "legal_entity": args.legal_entity}
    for name in ("customer_id", "external_ref"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    if args.at is not None:
        body["at"] = args.at.isoformat()
    with admin_client(args) as client:
        explanation = client.explain_route(body)
    if args.customer_id and explanation.get("customer_home") is None:
        _no_home(args.customer_id)
    print(explanation.get("text", ""))
    return 0


async def _customer_record(customer_id: str) -> XrefRecord | None:
    """The customer's record in the store GATEWAY_REDIS_URL names; a CommandError naming the
    variable when it names no store or that store cannot be reached (as `gateway serve` says
    it), not a traceback."""
    url = os.environ.get(REDIS_URL_ENV)
    try:
        store = open_store(url)
    except ValueError as exc:
        raise CommandError(f"{REDIS_URL_ENV}: {exc}") from None
    try:
        return await store.get_xref(customer_id)
    except StoreUnavailable:
        raise CommandError(
            f"{REDIS_URL_ENV}: the store at {store_description(url)} cannot be reached, so the "
            "customer's home ERP cannot be read.\nStart it, or ask the running gateway: --url URL."
        ) from None
    finally:
        await store.aclose()
