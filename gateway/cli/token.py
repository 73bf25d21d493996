"""`gateway token`: a token from the demo issuer, for a client of clients.yaml (development
only: signed with GATEWAY_DEMO_SECRET, or the dev-only demo secret)."""

from __future__ import annotations

import argparse
import os
import sys

from gateway.cli.arguments import add_config_dir, at_least
from gateway.cli.base import CommandError, config_dir, load_auth
from gateway.config.auth import AuthPolicy, IssuerConfig
from gateway.config.issues import AUTH_FILE, CLIENTS_FILE
from gateway.config.lint import issuer_cap_at, line_at
from gateway.demo import ALL_SCOPES, DEMO_SECRET_ENV, default_lifetime_s, demo_issuer, mint_token
from gateway.pipeline.auth import DEV_DEMO_SECRET


def arguments(parser: argparse.ArgumentParser) -> None:
    add_config_dir(parser)
    parser.add_argument("--client", required=True, help="the client id, as in clients.yaml")
    parser.add_argument(
        "--scope", action="append", help="a scope to grant; repeat for more (default: every scope)"
    )
    parser.add_argument(
        "--ttl",
        type=at_least(1),
        help="lifetime in seconds, at most the issuer's max_lifetime_s in policies/auth.yaml "
        "(default: an hour, or that cap if shorter)",
    )
    parser.set_defaults(func=token, parser=parser)  # to refuse a --ttl over the issuer's cap


def token(args: argparse.Namespace) -> int:
    # Only what a token needs: an operator gets one to fix a broken routes.yaml or backend.
    config = load_auth(config_dir(args.config_dir))
    try:
        issuer = demo_issuer(config.auth)
    except LookupError as exc:
        raise CommandError(str(exc)) from None
    ttl = default_lifetime_s(issuer) if args.ttl is None else args.ttl
    if issuer.max_lifetime_s is not None and ttl > issuer.max_lifetime_s:
        # The gateway would refuse such a token 401: no token is better than one that fails.
        args.parser.error(
            f"--ttl {ttl} is longer than issuer {issuer.name!r} allows: max_lifetime_s: "
            f"{issuer.max_lifetime_s} ({_cap_set_at(args, config.auth, issuer)}); "
            f"give at most {issuer.max_lifetime_s}"
        )
    client = next((c for c in config.clients.clients if c.id == args.client), None)
    if client is None:
        print(
            f"warning: client {args.client!r} is not in {CLIENTS_FILE}: the gateway answers "
            "403 to its token until it is added there",
            file=sys.stderr,
        )
    elif client.issuer not in (None, issuer.name):
        print(
            f"warning: client {args.client!r} belongs to issuer {client.issuer!r} in "
            f"{CLIENTS_FILE}: the gateway answers 403 to a token of {issuer.name!r} for it",
            file=sys.stderr,
        )
    secret = os.environ.get(DEMO_SECRET_ENV)
    if not secret:
        print(
            f"note: {DEMO_SECRET_ENV} unset; signing with the dev-only demo secret", file=sys.stderr
        )
        secret = DEV_DEMO_SECRET
    scopes = tuple(args.scope) if args.scope else ALL_SCOPES
    print(mint_token(issuer, secret, args.client, scopes, ttl))
    return 0


def _cap_set_at(args: argparse.Namespace, policy: AuthPolicy, issuer: IssuerConfig) -> str:
    """Where policies/auth.yaml sets the issuer's `max_lifetime_s`: `file:line`."""
    index = next(i for i, candidate in enumerate(policy.issuers) if candidate is issuer)
    line = line_at(config_dir(args.config_dir), AUTH_FILE, issuer_cap_at(index))
    return AUTH_FILE if line is None else f"{AUTH_FILE}:{line}"
