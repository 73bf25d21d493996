"""The `gateway` command: demo, serve, simulate, check, explain, token.

Not the application itself (see `gateway.app`); this parses arguments and starts things.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from gateway import configuration
from gateway.app import build_app
from gateway.config.issues import ConfigError
from gateway.config.schemas import schema_documents
from gateway.demo import (
    ALL_SCOPES,
    DEMO_SECRET_ENV,
    DEV_DEMO_SECRET,
    demo_environment,
    demo_issuer,
    mint_token,
    tour,
)
from gateway.observability.logging import configure_logging
from gateway.observability.spans import telemetry_from_env
from gateway.routing.explain import explain
from gateway.routing.rules import compile_routes
from gateway.runtime import build_runtime
from gateway.store import open_store

CONFIG_DIR_ENV = "GATEWAY_CONFIG_DIR"
REDIS_URL_ENV = "GATEWAY_REDIS_URL"


def _config_dir(value: str | None) -> Path:
    return Path(value or os.environ.get(CONFIG_DIR_ENV) or ".")


def create_app() -> Starlette:
    """The app `gateway serve` runs, from the environment (a factory: one per worker)."""
    configure_logging(os.environ.get("GATEWAY_LOG_LEVEL", "INFO"))
    config_dir = _config_dir(None)
    config = configuration.load(config_dir)
    store = open_store(os.environ.get(REDIS_URL_ENV))
    # GATEWAY_CONFIG_POLL=0 turns the file watcher off (reloads then come by SIGHUP or the
    # admin endpoint only, e.g. where a deployment tool signals each change).
    watch = os.environ.get("GATEWAY_CONFIG_POLL", "1") != "0"
    return build_app(
        build_runtime(config, store),
        config_dir=config_dir,
        watch_config=watch,
        telemetry=telemetry_from_env(os.environ),
    )


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def cmd_check(args: argparse.Namespace) -> int:
    issues = configuration.check(_config_dir(args.config_dir))
    for issue in issues:
        print(f"{issue.severity}: {issue}")
    errors = [i for i in issues if i.severity == "error"]
    print(f"{len(errors)} error(s), {len(issues) - len(errors)} warning(s)")
    return 1 if errors else 0


def cmd_explain(args: argparse.Namespace) -> int:
    try:
        config = configuration.load(_config_dir(args.config_dir))
    except ConfigError as exc:
        return _fail(str(exc))
    at = dt.datetime.fromisoformat(args.at) if args.at else None
    home = asyncio.run(_customer_home(args.customer_id)) if args.customer_id else None
    try:
        explanation = explain(
            compile_routes(config.routes),
            args.operation,
            args.legal_entity,
            customer_home=home,
            at=at,
        )
    except ValueError as exc:
        return _fail(str(exc))
    print(explanation.text())
    return 0


async def _customer_home(customer_id: str) -> str | None:
    store = open_store(os.environ.get(REDIS_URL_ENV))
    try:
        record = await store.get_xref(customer_id)
        return record.backend if record else None
    finally:
        await store.aclose()


def cmd_token(args: argparse.Namespace) -> int:
    try:
        config = configuration.load(_config_dir(args.config_dir))
        issuer = demo_issuer(config.auth)
    except (ConfigError, LookupError) as exc:
        return _fail(str(exc))
    secret = os.environ.get(DEMO_SECRET_ENV)
    if not secret:
        print(
            f"note: {DEMO_SECRET_ENV} unset; signing with the dev-only demo secret", file=sys.stderr
        )
        secret = DEV_DEMO_SECRET
    scopes = tuple(args.scope) if args.scope else ALL_SCOPES
    print(mint_token(issuer, secret, args.client, scopes, args.ttl))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in schema_documents().items():
            path = out / name
            # "\n" on every platform: the committed files are compared byte for byte.
            path.write_text(text, encoding="utf-8", newline="\n")
            print(f"wrote {path}")
    except OSError as exc:
        return _fail(f"cannot write the schemas to {out}: {exc.strerror or exc}")
    return 0


def cmd_changelog(_: argparse.Namespace) -> int:
    from gateway.domain.versions import changelog

    print(changelog())
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    app = _simulator(args.erp)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port or _SIM_PORTS[args.erp],
        log_level="warning",
        timeout_graceful_shutdown=5,  # a simulated hang must not hold a shutdown for long
    )
    return 0


_SIM_PORTS = {"legacy": 9101, "cloud": 9102}


def _simulator(erp: str) -> Starlette:
    if erp == "legacy":
        import erp_simulators.sap

        return erp_simulators.sap.create_app()
    import erp_simulators.netsuite

    return erp_simulators.netsuite.create_app()


def cmd_serve(args: argparse.Namespace) -> int:
    if args.config_dir:
        os.environ[CONFIG_DIR_ENV] = args.config_dir
    try:
        # Fail fast, with file and line, before forking workers.
        configuration.load(_config_dir(None))
    except ConfigError as exc:
        return _fail(str(exc))
    uvicorn.run(
        "gateway.cli:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,  # the gateway writes its own JSON access log with correlation ids
        timeout_graceful_shutdown=30,
    )
    return 0


async def _serve_demo(args: argparse.Namespace) -> None:
    legacy_url = f"http://127.0.0.1:{args.legacy_port}"
    cloud_url = f"http://127.0.0.1:{args.cloud_port}"
    for warning in demo_environment(os.environ, legacy_url, cloud_url):
        print(warning, file=sys.stderr)
    config_dir = _config_dir(args.config_dir)
    config = configuration.load(config_dir)
    store = open_store(os.environ.get(REDIS_URL_ENV))
    gateway_app = build_app(
        build_runtime(config, store),
        config_dir=config_dir,
        telemetry=telemetry_from_env(os.environ),
    )
    servers = [
        uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        for app, port in (
            (_simulator("legacy"), args.legacy_port),
            (_simulator("cloud"), args.cloud_port),
            (gateway_app, args.port),
        )
    ]
    token = mint_token(demo_issuer(config.auth), os.environ[DEMO_SECRET_ENV], "crm-demo")
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    else:
        print(tour(f"http://127.0.0.1:{args.port}", legacy_url, cloud_url, token), flush=True)
    await asyncio.gather(*tasks)


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_serve_demo(args))
    except ConfigError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        pass
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="gateway and both ERP simulators in one command")
    demo.add_argument("--config-dir")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--legacy-port", type=int, default=9101)
    demo.add_argument("--cloud-port", type=int, default=9102)
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="serve the gateway")
    serve.add_argument("--config-dir")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    simulate = sub.add_parser("simulate", help="run one ERP simulator")
    simulate.add_argument("erp", choices=["legacy", "cloud"])
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int)
    simulate.set_defaults(func=cmd_simulate)

    check = sub.add_parser("check", help="validate routes, backends and policies")
    check.add_argument("--config-dir")
    check.set_defaults(func=cmd_check)

    exp = sub.add_parser("explain", help="which rule and backend a request would get")
    exp.add_argument("--config-dir")
    exp.add_argument("--operation", required=True)
    exp.add_argument("--legal-entity", required=True)
    exp.add_argument("--customer-id")
    exp.add_argument("--at", help="ISO time (default: now)")
    exp.set_defaults(func=cmd_explain)

    token = sub.add_parser("token", help="mint a token from the demo issuer")
    token.add_argument("--config-dir")
    token.add_argument("--client", required=True)
    token.add_argument("--scope", action="append")
    token.add_argument("--ttl", type=int, default=3600)
    token.set_defaults(func=cmd_token)

    schema = sub.add_parser(
        "schema", help="write the config files' JSON Schemas, for editors and their YAML support"
    )
    schema.add_argument(
        "--out",
        default="schemas",
        metavar="DIR",
        help="the directory to write them to (default: %(default)s)",
    )
    schema.set_defaults(func=cmd_schema)

    changes = sub.add_parser("changelog", help="the API changelog, from the version changes")
    changes.set_defaults(func=cmd_changelog)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
