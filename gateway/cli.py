"""The `gateway` command: demo, serve, simulate, check, doctor, explain, plan, migrate, xref,
shadow, audit, token, schema, changelog.

Not the application itself (see `gateway.app`); this parses arguments and starts things. Every
foreseeable mistake (a busy port, a missing variable, a bad argument, a broken config) ends in
one or two lines that say what to do, and a non-zero exit; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from starlette.applications import Starlette

from gateway import MISSING_MULTIPROC_DIR, configuration
from gateway.adapters.base import CallContext, DoctorCheck
from gateway.adapters.netsuite.credentials import netsuite_credentials
from gateway.admin_client import ADMIN_TOKEN_ENV, DEFAULT_URL, AdminClient, AdminError, admin_token
from gateway.app import build_app
from gateway.config.backends import BackendConfig, NetSuiteBackend, credential_variables
from gateway.config.issues import BACKENDS_DIR, CLIENTS_FILE, ConfigError
from gateway.config.loader import GatewayConfig, config_version, load_routes
from gateway.config.schemas import schema_documents
from gateway.demo import (
    ALL_SCOPES,
    DEMO_SECRET_ENV,
    SIMULATOR_CREDENTIALS,
    connect_notifications,
    demo_environment,
    demo_issuer,
    mint_token,
    tour,
)
from gateway.domain.digits import ascii_digits
from gateway.domain.listing import known
from gateway.observability.logging import configure_logging
from gateway.observability.metrics import MULTIPROC_DIR_ENV
from gateway.observability.spans import telemetry_from_env
from gateway.ops.xref_exchange import IMPORT_COLUMNS
from gateway.pipeline.auth import DEV_DEMO_SECRET, build_authenticator
from gateway.pipeline.routing import customer_read_placement
from gateway.routing.explain import explain
from gateway.routing.plan import plan
from gateway.routing.rules import compile_routes
from gateway.routing.shadow_report import match_rates, report_text
from gateway.runtime import build_adapter, build_runtime
from gateway.server import (
    CONFIG_REFUSED,
    DRAIN_S,
    GatewayServerConfig,
    PortInUse,
    ServerLimits,
    StartupFailed,
    listening_socket,
    run,
)
from gateway.store import open_store, store_description
from gateway.store.audit import ExportEnds, verify_file
from gateway.store.base import XrefRecord

CONFIG_DIR_ENV = "GATEWAY_CONFIG_DIR"
REDIS_URL_ENV = "GATEWAY_REDIS_URL"
LOG_LEVEL_ENV = "GATEWAY_LOG_LEVEL"
# How `gateway serve` hands its server limits to the workers it starts (they build the app).
LIMITS_ENV = "GATEWAY_SERVER_LIMITS"
DEMO_PORTS = {"gateway": 8080, "legacy": 9101, "cloud": 9102}
SIMULATOR_KEEPALIVE_S = 75  # seconds an idle connection to a simulator stays open
_stderr = Console(stderr=True)


class CommandError(Exception):
    """A mistake the person at the keyboard can fix; the message says how (one or two lines)."""


def _config_dir(value: str | None) -> Path:
    return Path(value or os.environ.get(CONFIG_DIR_ENV) or ".")


def _load(config_dir: Path) -> GatewayConfig:
    try:
        return configuration.load(config_dir)
    except ConfigError as exc:
        raise CommandError(
            f"{exc}\nFix the file(s) above; `gateway check` lists every issue."
        ) from None


def _limits_from_env() -> ServerLimits:
    raw = os.environ.get(LIMITS_ENV)
    return ServerLimits(**json.loads(raw)) if raw else ServerLimits()


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level() -> str:
    """GATEWAY_LOG_LEVEL, in any case (`debug`, as most tools write it); INFO if unset."""
    given = os.environ.get(LOG_LEVEL_ENV, "INFO")
    level = given.strip().upper()
    if level not in _LOG_LEVELS:
        raise CommandError(
            f"{LOG_LEVEL_ENV}={given} is not a log level; use one of {', '.join(_LOG_LEVELS)}"
        )
    return level


def create_app() -> Starlette:
    """The app `gateway serve` runs, from the environment (a factory: one per worker)."""
    configure_logging(_log_level())
    config_dir = _config_dir(None)
    try:
        config = configuration.load(config_dir)
    except ConfigError as exc:
        # `gateway serve` checked the files before it started any worker: this is a worker
        # started again (after a crash) while they cannot be loaded. Said in a line, not a
        # traceback; its supervisor starts it again once they change (or after a wait).
        logging.getLogger("gateway.server").error(
            "a worker cannot start, its configuration is refused: %s", exc
        )
        raise SystemExit(CONFIG_REFUSED) from None
    store = open_store(os.environ.get(REDIS_URL_ENV))
    # GATEWAY_CONFIG_POLL=0 turns the file watcher off (reloads then come by SIGHUP or the
    # admin endpoint only, e.g. where a deployment tool signals each change).
    watch = os.environ.get("GATEWAY_CONFIG_POLL", "1") != "0"
    return build_app(
        build_runtime(config, store),
        config_dir=config_dir,
        watch_config=watch,
        telemetry=telemetry_from_env(os.environ),
        body_timeout_s=_limits_from_env().body_timeout_s,
    )


def cmd_check(args: argparse.Namespace) -> int:
    issues = configuration.check(_config_dir(args.config_dir))
    for issue in issues:
        print(f"{issue.severity}: {issue}")
    errors = [i for i in issues if i.severity == "error"]
    print(f"{len(errors)} error(s), {len(issues) - len(errors)} warning(s)")
    return 1 if errors else 0


def _iso_time(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 time; write e.g. 2026-12-01T06:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _port(value: str) -> int:
    """A TCP port to listen on, 1 to 65535."""
    if not ascii_digits(value) or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port; give one from 1 to 65535")
    return int(value)


def _at_least(least: int) -> Callable[[str], int]:
    """A whole number of at least `least` (a limit below it would refuse every request)."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if number < least:
            raise argparse.ArgumentTypeError(f"{value} is too small; give at least {least}")
        return number

    return parse


def _seconds(value: str) -> float:
    """A positive number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return seconds


def cmd_explain(args: argparse.Namespace) -> int:
    if args.url is not None:
        return _explain_remotely(args)
    config = _load(_config_dir(args.config_dir))
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
            customer=args.customer_id or args.external_ref,
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
    client = _admin(args)
    try:
        explanation = client.explain_route(body)
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    finally:
        client.close()
    if args.customer_id and explanation.get("customer_home") is None:
        _no_home(args.customer_id)
    print(explanation.get("text", ""))
    return 0


async def _customer_record(customer_id: str) -> XrefRecord | None:
    store = open_store(os.environ.get(REDIS_URL_ENV))
    try:
        return await store.get_xref(customer_id)
    finally:
        await store.aclose()


def cmd_token(args: argparse.Namespace) -> int:
    config = _load(_config_dir(args.config_dir))
    try:
        issuer = demo_issuer(config.auth)
    except LookupError as exc:
        raise CommandError(str(exc)) from None
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
        raise CommandError(f"cannot write the schemas to {out}: {exc.strerror or exc}") from None
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    try:
        old, new = load_routes(args.old), load_routes(args.new)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot read {exc.filename}: {exc.strerror}") from None
    config_dir = _config_dir(args.config_dir)
    present = {p.stem for p in (config_dir / BACKENDS_DIR).glob("*.yaml")}
    targets = {backend for rule in new.rules for backend in rule.targets}
    unknown = sorted(targets | {new.default_backend}) if present else []
    for backend in (b for b in unknown if b not in present):
        print(f"warning: {args.new} routes to {backend!r}, not a backend in {config_dir}")
    change = plan(compile_routes(old), compile_routes(new), time.time())
    rates = None
    if args.shadow:
        client = _admin(args)
        try:
            rates = match_rates(client.shadow_report()["scopes"])
        except AdminError as exc:
            raise CommandError(str(exc)) from None
        finally:
            client.close()
    print(change.text(rates))
    return 0


def _admin(args: argparse.Namespace) -> AdminClient:
    try:
        token, note = admin_token(os.environ, _config_dir(args.config_dir))
        client = AdminClient(args.url, token)
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    if note:
        print(note, file=sys.stderr)
    return client


def cmd_migrate(args: argparse.Namespace) -> int:
    client = _admin(args)
    body = {
        "legal_entity": args.legal_entity,
        "to": args.to,
        "records": args.records or ["customers"],
        "dry_run": args.dry_run,
    }
    try:
        job = client.start_migration(body)
        what = "counting (dry run)" if args.dry_run else "copying"
        with Progress(*_COLUMNS, transient=False) as progress:
            task = progress.add_task(f"{args.legal_entity} -> {args.to}: {what}", total=None)
            while True:
                progress.update(
                    task, total=job["total"] or None, completed=job["done"] + job["failed"]
                )
                if job["status"] != "running":
                    break
                time.sleep(0.2)
                job = client.migration(job["id"])
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    finally:
        client.close()
    for error in job["errors"]:
        print(f"  {error['record'] or 'job'}: {error['message']}", file=sys.stderr)
    verb = "would copy" if args.dry_run else "copied"
    print(
        f"migration {job['id']} {job['status']}: {job['done']} of {job['total']} done "
        f"({verb} {job['copied']}), {job['failed']} failed"
    )
    return 0 if job["status"] == "succeeded" else 1


_COLUMNS = (
    TextColumn("{task.description}"),
    BarColumn(),
    MofNCompleteColumn(),
    TimeElapsedColumn(),
)
IMPORT_CHUNK_ROWS = 2000


def _export(
    args: argparse.Namespace,
    chunks: Callable[[AdminClient], Iterator[bytes]],
    nouns: tuple[str, str],
    header: int = 0,
    count: Callable[[], int] | None = None,
) -> int:
    """Write what the gateway streams to `--out` (or standard output), with a progress line
    while it comes; then say how many lines (`nouns`: one, many) it wrote, `header` aside,
    or as many as `count` says."""
    client = _admin(args)
    try:
        target = open(args.out, "wb") if args.out != "-" else sys.stdout.buffer  # noqa: SIM115
    except OSError as exc:
        client.close()
        raise CommandError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    lines = 0
    try:
        with Progress(*_COLUMNS, transient=True, console=_stderr) as progress:
            task = progress.add_task(f"exporting {nouns[1]}", total=None)
            for chunk in chunks(client):
                target.write(chunk)
                lines += chunk.count(b"\n")
                progress.update(task, completed=max(0, lines - header))
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    finally:
        client.close()
        if target is not sys.stdout.buffer:
            target.close()
    where = args.out if args.out != "-" else "standard output"
    written = count() if count is not None else max(0, lines - header)
    print(
        f"exported {written} {nouns[0] if written == 1 else nouns[1]} to {where}",
        file=sys.stderr,
    )
    return 0


def cmd_shadow_report(args: argparse.Namespace) -> int:
    client = _admin(args)
    try:
        report = client.shadow_report()
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    finally:
        client.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(report_text(report["scopes"]))
    return 0


def cmd_xref_export(args: argparse.Namespace) -> int:
    rows = ("row", "rows")
    return _export(args, lambda client: client.export_xref(args.legal_entity), rows, header=1)


def cmd_xref_import(args: argparse.Namespace) -> int:
    try:
        lines = Path(args.file).read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{args.file} is not UTF-8 text") from None
    if not lines:
        raise CommandError(f"{args.file} is empty; the first line names the columns")
    header, rows = lines[0], lines[1:]
    client = _admin(args)
    errors: list[dict[str, Any]] = []
    totals = {"valid": 0, "bound": 0}
    try:
        # Every row is validated first, then (unless a dry run) the good ones are bound.
        passes = [True] if args.dry_run else [True, False]
        with Progress(*_COLUMNS, console=_stderr) as progress:
            for dry_run in passes:
                label = "validating" if dry_run else "binding"
                task = progress.add_task(f"{label} {args.file}", total=len(rows))
                for start in range(0, len(rows), IMPORT_CHUNK_ROWS):
                    chunk = rows[start : start + IMPORT_CHUNK_ROWS]
                    text = "\n".join([header, *chunk]) + "\n"
                    report = client.import_xref(text, dry_run=dry_run, first_line=start + 1)
                    # The binding refuses rows too: what only shows across chunks (a document
                    # bound by a row in another chunk), or what changed since the validation.
                    seen = {e["line"] for e in errors}
                    errors += [e for e in report.get("errors", ()) if e["line"] not in seen]
                    if dry_run:
                        totals["valid"] += report["valid"]
                    else:
                        totals["bound"] += report["bound"]
                    progress.advance(task, len(chunk))
    except (AdminError, KeyError, TypeError) as exc:
        message = str(exc) if isinstance(exc, AdminError) else "an import report it cannot read"
        raise CommandError(message) from None
    finally:
        client.close()
    for error in sorted(errors, key=lambda e: e["line"]):
        print(f"{args.file}:{error['line']}: {error['message']}", file=sys.stderr)
    counted = sum(1 for row in rows if row.strip())  # blank lines are no rows
    print(
        f"{counted} row(s): {totals['valid']} valid, {len(errors)} refused; "
        + ("nothing bound (dry run)" if args.dry_run else f"{totals['bound']} bound")
    )
    return 1 if errors else 0


def cmd_changelog(_: argparse.Namespace) -> int:
    from gateway.domain.versions import changelog

    print(changelog())
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    port = args.port or DEMO_PORTS[args.erp]
    sock = _listen(args.host, port, f"--port {port + 1}")
    config = uvicorn.Config(
        _simulator(args.erp, args),
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=5,  # a simulated hang must not hold a shutdown for long
        # As an ERP's front end (nginx's default): longer than the gateway keeps an idle
        # connection (pool.keepalive_s), so that the gateway never sends a request on a
        # connection the ERP is closing at that moment (a write whose outcome is unknown).
        timeout_keep_alive=SIMULATOR_KEEPALIVE_S,
    )
    print(f"{args.erp} ERP simulator on http://{args.host}:{port}", file=sys.stderr)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _simulator(erp: str, args: argparse.Namespace | None = None) -> Starlette:
    """A simulator app, as `gateway simulate`'s flags say (defaults otherwise)."""
    if erp == "legacy":
        import erp_simulators.sap

        options = erp_simulators.sap.options_from(args) if args is not None else None
        return erp_simulators.sap.create_app(options=options)
    from erp_simulators.netsuite.app import app_from_options, create_app

    return app_from_options(args) if args is not None else create_app()


def _listen(host: str, port: int, instead: str, workers: int = 1) -> socket.socket:
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
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _require_credentials(config: GatewayConfig, env: Mapping[str, str]) -> None:
    missing = [
        f"{variable} ({BACKENDS_DIR}/{name}.yaml)"
        for name, backend in sorted(config.backends.items())
        for variable in credential_variables(backend)
        if not env.get(variable)
    ]
    if missing:
        raise CommandError(
            f"ERP credentials not set: {', '.join(missing)}.\n"
            "Set them in the environment (a secret store in production); `gateway demo` sets "
            "the simulators' own."
        )
    unusable = []
    for name, backend in sorted(config.backends.items()):
        if isinstance(backend, NetSuiteBackend):
            try:  # a key that is no key, or a key file that cannot be read
                netsuite_credentials(name, backend, env, config.config_dir)
            except ValueError as exc:
                unusable.append(str(exc))
    if unusable:
        raise CommandError(f"ERP credentials unusable: {'; '.join(unusable)}.")


def _issuers_off(config: GatewayConfig, env: Mapping[str, str]) -> list[str]:
    """What to say of each issuer other than the demo one that is off (its secret unset: each
    of its tokens refused); a CommandError for an HMAC secret anyone could know or guess. Said
    before any worker starts."""
    try:
        trusted = build_authenticator(config.auth, config.config_dir, env).issuers
    except ConfigError as exc:
        raise CommandError("\n".join(str(issue) for issue in exc.issues)) from None
    return [
        f"issuer {issuer.name} is off, its tokens refused (401): {issuer.secret_env} is unset"
        for issuer in config.auth.issuers
        if issuer.issuer not in trusted and not issuer.demo  # the demo's: see the banner
    ]


DOCTOR_TIMEOUT_S = 30.0  # for every check of one backend


def cmd_doctor(args: argparse.Namespace) -> int:
    config = _load(_config_dir(args.config_dir))
    backend = config.backends.get(args.backend)
    if backend is None:
        raise CommandError(
            f"no backend {args.backend!r} in {BACKENDS_DIR}/ {known(config.backends)}"
        )
    env = {**os.environ, **SIMULATOR_CREDENTIALS} if args.demo_credentials else dict(os.environ)
    single = GatewayConfig(**{**vars(config), "backends": {args.backend: backend}})
    _require_credentials(single, env)
    print(f"gateway doctor: {args.backend} ({backend.kind}) at {backend.base_url}")
    checks = asyncio.run(_diagnose(args.backend, backend, env, config.config_dir))
    for check in checks:
        print(f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.message}")
    failed = sum(1 for c in checks if not c.ok)
    verdict = "ready for the gateway" if not failed else f"{failed} check(s) failed"
    print(f"{args.backend}: {verdict}")
    return 1 if failed else 0


async def _diagnose(
    name: str, backend: BackendConfig, env: Mapping[str, str], config_dir: Path
) -> list[DoctorCheck]:
    adapter = build_adapter(name, backend, env, config_dir=config_dir)
    ctx = CallContext(
        correlation_id=f"doctor-{uuid.uuid4().hex[:12]}",
        deadline=time.monotonic() + DOCTOR_TIMEOUT_S,
    )
    try:
        return await adapter.diagnose(ctx)
    finally:
        await adapter.aclose()


def _limits(args: argparse.Namespace) -> ServerLimits:
    return ServerLimits(
        head_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        keepalive_timeout_s=args.keepalive_timeout,
        max_head_bytes=args.max_header_bytes,
        max_headers=args.max_headers,
        max_connections=args.max_connections,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    level = _log_level()  # here, not in a worker that would fail, be started again, and fail
    if args.config_dir:
        os.environ[CONFIG_DIR_ENV] = args.config_dir
    redis_url = os.environ.get(REDIS_URL_ENV)
    if args.workers < 1:
        raise CommandError("--workers must be at least 1")
    if args.workers > 1 and not redis_url:
        raise CommandError(
            f"--workers {args.workers} needs a shared store: set {REDIS_URL_ENV}. The memory "
            "store lives inside one process,\nso each worker would see only its own ID "
            "cross-references, idempotency keys and rate limits."
        )
    config_dir = _config_dir(None)
    config = _load(config_dir)  # fail fast, with file and line, before forking workers
    _require_credentials(config, os.environ)
    off = _issuers_off(config, os.environ)
    try:
        store = store_description(redis_url)
    except ValueError as exc:
        raise CommandError(f"{REDIS_URL_ENV}: {exc}") from None
    limits = _limits(args)
    os.environ[LIMITS_ENV] = json.dumps(dataclasses.asdict(limits))
    sock = _listen(args.host, args.port, f"gateway serve --port {args.port + 1}", args.workers)
    trusted = (
        "trusted" if os.environ.get(DEMO_SECRET_ENV) else f"not trusted ({DEMO_SECRET_ENV} unset)"
    )
    backends = ", ".join(
        f"{n} ({b.kind}, {b.base_url})" for n, b in sorted(config.backends.items())
    )
    workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"
    print(
        f"gateway serve: http://{args.host}:{args.port} ({workers}); store: {store}\n"
        f"  backends: {backends}; demo issuer: {trusted}",
        *(f"gateway serve: warning: {said}" for said in off),
        sep="\n",
        file=sys.stderr,
    )
    metrics_dir = _metrics_dir(args.workers)
    server_config = GatewayServerConfig(
        "gateway.cli:create_app",
        limits=limits,
        factory=True,
        workers=args.workers,
        loop="uvloop",
        log_level="warning",
        access_log=False,  # the gateway writes its own JSON access log with correlation ids
        timeout_graceful_shutdown=DRAIN_S,
    )
    if args.workers > 1:
        configure_logging(level)  # the supervisor's lines (a worker died, waits), as the workers'
    try:
        run(server_config, sock, files_version=lambda: config_version(config_dir))
    except StartupFailed:
        raise CommandError(
            f"the gateway stopped before it served on {args.host}:{args.port}; the lines above "
            "say why."
        ) from None
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _metrics_dir(workers: int) -> str | None:
    """For several workers, a directory where each writes its metrics, so that /metrics adds
    them up whichever worker answers (prometheus_client's multiprocess mode). One the operator
    set is used as it is (it must be empty at start); else a fresh one, removed at exit."""
    if workers < 2:
        return None
    given = os.environ.get(MULTIPROC_DIR_ENV)
    if given:
        if not Path(given).is_dir():
            raise CommandError(f"{MULTIPROC_DIR_ENV}={given} is not a directory")
        mine = f"_{os.getpid()}.db"  # what this command's own metrics wrote there at start
        if any(not f.name.endswith(mine) for f in Path(given).glob("*.db")):
            raise CommandError(
                f"{MULTIPROC_DIR_ENV}={given} holds an earlier run's metrics; empty it first"
            )
        return None
    created = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ[MULTIPROC_DIR_ENV] = created
    return created


async def _serve_demo(args: argparse.Namespace, sockets: Mapping[str, socket.socket]) -> None:
    legacy_url = f"http://127.0.0.1:{args.legacy_port}"
    cloud_url = f"http://127.0.0.1:{args.cloud_port}"
    for warning in demo_environment(os.environ, legacy_url, cloud_url):
        print(warning, file=sys.stderr)
    configure_logging(_log_level(), short=True)
    config_dir = _config_dir(args.config_dir)
    config = _load(config_dir)
    store = open_store(os.environ.get(REDIS_URL_ENV))
    limits = _limits(args)
    gateway_app = build_app(
        build_runtime(config, store, demo=True),
        config_dir=config_dir,
        telemetry=telemetry_from_env(os.environ),
        body_timeout_s=limits.body_timeout_s,
    )

    def simulator(app: Starlette) -> uvicorn.Config:
        return uvicorn.Config(app, log_level="warning", server_header=False)

    servers = {
        "legacy": uvicorn.Server(simulator(_simulator("legacy"))),
        "cloud": uvicorn.Server(simulator(_simulator("cloud"))),
        "gateway": uvicorn.Server(
            GatewayServerConfig(gateway_app, limits=limits, log_level="warning", access_log=False)
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
        print(f"ERP change notifications: {', '.join(pushing) or 'none'} push to the gateway")
        print(tour(gateway_url, legacy_url, cloud_url, token), flush=True)
        print("Requests to the gateway appear below, one line each. Ctrl-C stops the demo.\n")
    await asyncio.gather(*tasks)


def cmd_demo(args: argparse.Namespace) -> int:
    _log_level()
    ports = {"gateway": args.port, "legacy": args.legacy_port, "cloud": args.cloud_port}
    if len(set(ports.values())) != len(ports):
        raise CommandError("the gateway and the two simulators need three different ports")
    options = {"gateway": "--port", "legacy": "--legacy-port", "cloud": "--cloud-port"}
    make = {"gateway": "PORT", "legacy": "LEGACY_PORT", "cloud": "CLOUD_PORT"}
    sockets: dict[str, socket.socket] = {}
    try:
        for name, port in ports.items():
            instead = f"make run {make[name]}={port + 1} (gateway demo {options[name]} {port + 1})"
            sockets[name] = _listen("127.0.0.1", port, instead)
        asyncio.run(_serve_demo(args, sockets))
    except KeyboardInterrupt:
        pass
    finally:
        for sock in sockets.values():
            sock.close()
    return 0


def _add_config_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-dir",
        metavar="DIR",
        help=f"where routes.yaml, backends/ and policies/ are (default: ${CONFIG_DIR_ENV} or .)",
    )


def _add_remote(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help="the running gateway")
    parser.add_argument(
        "--config-dir",
        metavar="DIR",
        help=f"for a demo-issuer admin token when ${ADMIN_TOKEN_ENV} is unset "
        f"(default: ${CONFIG_DIR_ENV} or .)",
    )


def _verb_usage(_: argparse.Namespace) -> int:  # pragma: no cover - argparse requires a verb
    return 2


def cmd_events_dead_letters(args: argparse.Namespace) -> int:
    """List the webhook dead letters, or with --replay, replay them (the ids given, or all)."""
    client = _admin(args)
    try:
        letters = client.dead_letters(args.limit)
        if args.replay is None:
            for d in letters:
                event = d["event"]
                print(
                    f"{d['id']}  {event.get('type')}  {event.get('subject')}  "
                    f"attempts={d['attempts']}  {d['last_error']}"
                )
            print(f"{len(letters)} dead letter(s)", file=sys.stderr)
            return 0
        chosen = args.replay or [d["id"] for d in letters]
        for delivery in chosen:
            client.replay_dead_letter(delivery)
            print(f"{delivery}: due again")
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    finally:
        client.close()
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    """The trail between a start and an end record (`ExportEnds`): the end is written only
    once the whole trail came, so that a file cut short is found by `audit verify`."""
    ends = ExportEnds()
    return _export(
        args,
        lambda client: ends.wrap(client.export_audit()),
        ("audit entry", "audit entries"),
        count=lambda: ends.entries,
    )


def cmd_audit_verify(args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            lines = sys.stdin.read().splitlines()
        else:
            lines = Path(args.file).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{args.file} is not UTF-8 text") from None
    verdict = verify_file(lines)
    if not verdict.intact:
        print(f"{args.file}:{verdict.bad_line}: {verdict.reason}", file=sys.stderr)
        print(f"{verdict.entries} entr{'y' if verdict.entries == 1 else 'ies'} before it verified")
        return 1
    if verdict.entries == 0:
        raise CommandError(f"{args.file} holds no audit entries")
    first = verdict.first_seq or 1
    last = first + verdict.entries + verdict.trimmed - 1
    if args.expect_head is not None and verdict.head != args.expect_head.strip().lower():
        print(
            f"{args.file}: the chain ends at seq {last} with head {verdict.head}, not the "
            f"expected {args.expect_head}: entries after it are missing, or the file is another "
            "chain's",
            file=sys.stderr,
        )
        return 1
    start = "from the first entry" if first == 1 else f"anchored at entry {first}"
    print(
        f"audit trail intact: {verdict.entries} entries (seq {first} to {last}, {start}); "
        f"head {verdict.head}"
    )
    if not verdict.ends_checked:
        print(
            "warning: the file has no export start and end records (an older gateway's "
            "export, or lines from GET /admin/audit): entries cut from its ends cannot be "
            "told; compare its head with one kept elsewhere (--expect-head)",
            file=sys.stderr,
        )
    if verdict.trimmed:
        print(
            f"warning: {verdict.trimmed} entries were trimmed from the store while it was "
            "exported and are not in the file (verified up to that gap and from it on)",
            file=sys.stderr,
        )
    return 0


def _add_limits(parser: argparse.ArgumentParser) -> None:
    defaults = ServerLimits()
    group = parser.add_argument_group("limits per request and connection")
    group.add_argument(
        "--header-timeout", type=_seconds, default=defaults.head_timeout_s, metavar="S",
        help="seconds for a request's headers to arrive (then 408 and close)",
    )  # fmt: skip
    group.add_argument(
        "--body-timeout", type=_seconds, default=defaults.body_timeout_s, metavar="S",
        help="seconds for a request's body to arrive, first byte to last (then 408 and close)",
    )  # fmt: skip
    group.add_argument(
        "--keepalive-timeout", type=_seconds, default=defaults.keepalive_timeout_s, metavar="S",
        help="seconds an idle connection stays open between requests",
    )  # fmt: skip
    group.add_argument(
        "--max-header-bytes", type=_at_least(1024), default=defaults.max_head_bytes, metavar="N",
        help="bytes of request line and headers together (then 431)",
    )  # fmt: skip
    group.add_argument(
        "--max-headers", type=_at_least(1), default=defaults.max_headers, metavar="N",
        help="header fields per request (then 431)",
    )  # fmt: skip
    group.add_argument(
        "--max-connections", type=_at_least(1), default=defaults.max_connections, metavar="N",
        help="open connections per worker (then 503 gateway_busy and close)",
    )  # fmt: skip


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it has none (the help text then says what applies)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument told in two lines rather than the whole usage."""

    def error(self, message: str) -> Any:  # argparse's signature returns NoReturn
        self.exit(2, f"{self.prog}: {message}\n(see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    formatter = _HelpFormatter
    parser = _Parser(
        prog="gateway", description=__doc__.split("\n\n")[0], formatter_class=formatter
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    def command(name: str, summary: str, func: Callable[[argparse.Namespace], int]) -> Any:
        p = sub.add_parser(name, help=summary, description=summary, formatter_class=formatter)
        p.set_defaults(func=func)
        return p

    demo = command("demo", "the gateway and both ERP simulators, ready for the tour", cmd_demo)
    _add_config_dir(demo)
    demo.add_argument(
        "--port", type=_port, default=DEMO_PORTS["gateway"], help="the gateway's port"
    )
    demo.add_argument(
        "--legacy-port",
        type=_port,
        default=DEMO_PORTS["legacy"],
        help="the SAP-style simulator's port",
    )
    demo.add_argument(
        "--cloud-port",
        type=_port,
        default=DEMO_PORTS["cloud"],
        help="the NetSuite-style simulator's port",
    )
    _add_limits(demo)

    serve = command("serve", "serve the gateway (uvicorn, uvloop, httptools)", cmd_serve)
    _add_config_dir(serve)
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    serve.add_argument("--port", type=_port, default=8080, help="the port to listen on")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help=f"worker processes (more than 1 needs {REDIS_URL_ENV})",
    )
    _add_limits(serve)

    simulate = command("simulate", "run one ERP simulator", cmd_simulate)
    simulate.add_argument("erp", choices=["legacy", "cloud"], help="which ERP")
    simulate.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    simulate.add_argument(
        "--port", type=_port, help="the port (default: 9101 for legacy, 9102 for cloud)"
    )
    simulate.add_argument(
        "--no-custom-fields",
        action="store_true",
        help="a system without the custom fields the gateway relies on (SAP: "
        "YY1_GatewayRef_SDH, YY1_CreditLimit_bus; NetSuite: custbody_credit_hold)",
    )
    import erp_simulators.sap
    from erp_simulators.netsuite.app import add_options as add_cloud_options

    erp_simulators.sap.add_options(
        simulate.add_argument_group("legacy ERP (SAP) only"), custom_fields_flag=False
    )
    add_cloud_options(
        simulate.add_argument_group("cloud ERP (NetSuite) only"), custom_fields_flag=False
    )

    check = command("check", "validate routes, backends and policies (exit 1 on errors)", cmd_check)
    _add_config_dir(check)

    exp = command("explain", "which rule and backend a request would get, and why", cmd_explain)
    _add_config_dir(exp)
    exp.add_argument("--operation", required=True, help="e.g. sales_orders.create")
    exp.add_argument("--legal-entity", required=True, help="e.g. DE01")
    exp.add_argument(
        "--customer-id",
        help="a customer's gateway id: its home ERP, and its share under a canary split",
    )
    exp.add_argument(
        "--external-ref", help="a new customer's external_ref: its share under a canary split"
    )
    exp.add_argument("--at", type=_iso_time, help="an ISO 8601 time (default: now)")
    exp.add_argument(
        "--url",
        help="ask this running gateway instead (its routes as it serves them, and the "
        f"customer's home from its store; an admin token from ${ADMIN_TOKEN_ENV})",
    )

    token = command("token", "mint a token from the demo issuer (development only)", cmd_token)
    _add_config_dir(token)
    token.add_argument("--client", required=True, help="the client id, as in clients.yaml")
    token.add_argument(
        "--scope", action="append", help="a scope to grant; repeat for more (default: every scope)"
    )
    token.add_argument("--ttl", type=_at_least(1), default=3600, help="lifetime in seconds")

    schema = command(
        "schema",
        "write the config files' JSON Schemas, for editors and their YAML support",
        cmd_schema,
    )
    schema.add_argument(
        "--out", default="schemas", metavar="DIR", help="the directory to write them to"
    )

    plan_ = command(
        "plan", "what a new routes.yaml would change, for review before it goes live", cmd_plan
    )
    plan_.add_argument("old", help="the routes.yaml in force")
    plan_.add_argument("new", help="the routes.yaml proposed")
    plan_.add_argument(
        "--shadow",
        action="store_true",
        help="print the shadow match rate beside each legal entity that moves (asks a running "
        "gateway: --url)",
    )
    plan_.add_argument("--url", default=DEFAULT_URL, help="the running gateway --shadow asks")
    _add_config_dir(plan_)

    migrate = command(
        "migrate", "copy a legal entity's customers to another ERP (a running gateway)", cmd_migrate
    )
    migrate.add_argument("--legal-entity", required=True, help="e.g. CA01")
    migrate.add_argument("--to", required=True, help="the target backend, e.g. cloud")
    migrate.add_argument(
        "--records", action="append", choices=["customers"], default=None,
        help="what to copy (default: customers)",
    )  # fmt: skip
    migrate.add_argument(
        "--dry-run", action="store_true", help="count what would move; copy nothing"
    )
    _add_remote(migrate)

    xref = command("xref", "the ID cross-reference as CSV (a running gateway)", _verb_usage)
    xref_sub = xref.add_subparsers(
        dest="xref", required=True, metavar="export|import", parser_class=_Parser
    )
    export = xref_sub.add_parser(
        "export", help="every ERP document of the records, as CSV", formatter_class=formatter
    )
    export.add_argument("--legal-entity", help="only this legal entity's records (default: all)")
    export.add_argument("--out", default="-", help="the file to write (- for standard output)")
    export.set_defaults(func=cmd_xref_export)
    _add_remote(export)
    import_ = xref_sub.add_parser(
        "import",
        help="bind mappings (gateway id or source ERP id -> target ERP id) from a CSV file",
        formatter_class=formatter,
    )
    import_.add_argument("file", help="the CSV: " + ",".join(IMPORT_COLUMNS))
    import_.add_argument("--dry-run", action="store_true", help="validate every row; bind nothing")
    import_.set_defaults(func=cmd_xref_import)
    _add_remote(import_)

    events = command("events", "webhook deliveries of domain events", _verb_usage)
    events_sub = events.add_subparsers(
        dest="events", required=True, metavar="dead-letters", parser_class=_Parser
    )
    dead_letters = events_sub.add_parser(
        "dead-letters",
        help="list the deliveries past their last retry; --replay sends them again",
        formatter_class=formatter,
    )
    dead_letters.add_argument("--limit", type=int, default=100, help="the most to list")
    dead_letters.add_argument(
        "--replay",
        nargs="*",
        metavar="ID",
        help="replay these dead letters (no ids: every one listed)",
    )
    dead_letters.set_defaults(func=cmd_events_dead_letters)
    _add_remote(dead_letters)
    shadow = command("shadow", "shadow traffic: evidence before a move", _verb_usage)
    shadow_sub = shadow.add_subparsers(
        dest="shadow", required=True, metavar="report", parser_class=_Parser
    )
    shadow_report_ = shadow_sub.add_parser(
        "report",
        help="per legal entity and operation: samples, match rate, the fields that differ, "
        "noise (a running gateway)",
        formatter_class=formatter,
    )
    shadow_report_.add_argument("--json", action="store_true", help="the report as JSON")
    shadow_report_.set_defaults(func=cmd_shadow_report)
    _add_remote(shadow_report_)

    audit = command("audit", "the hash-chained audit trail", _verb_usage)
    audit_sub = audit.add_subparsers(
        dest="audit", required=True, metavar="export|verify", parser_class=_Parser
    )
    audit_export = audit_sub.add_parser(
        "export",
        help="the whole trail from a running gateway, as JSON lines",
        formatter_class=formatter,
    )
    audit_export.add_argument(
        "--out", default="-", help="the file to write (- for standard output)"
    )
    audit_export.set_defaults(func=cmd_audit_export)
    _add_remote(audit_export)
    audit_verify = audit_sub.add_parser(
        "verify",
        help="check an exported trail; exit 1 naming the first edited, removed, inserted or "
        "reordered line",
        formatter_class=formatter,
    )
    audit_verify.add_argument(
        "--file", required=True, help="the exported JSON lines (- for standard input)"
    )
    audit_verify.add_argument(
        "--expect-head",
        metavar="HASH",
        help="the head the chain must end at, as kept elsewhere (GET /admin/audit/verify's "
        "`head` when the file was made): exit 1 if it ends anywhere else",
    )
    audit_verify.set_defaults(func=cmd_audit_verify)

    doctor = command(
        "doctor",
        "check a live ERP is set up as the gateway needs (login, services, custom fields, "
        "value maps); exit 1 if not",
        cmd_doctor,
    )
    doctor.add_argument("backend", help="the backend's name (backends/<name>.yaml)")
    _add_config_dir(doctor)
    doctor.add_argument(
        "--demo-credentials",
        action="store_true",
        help="log in with the simulators' published demo credentials, as `gateway demo` does",
    )

    command("changelog", "the API changelog, generated from the version changes", cmd_changelog)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if MISSING_MULTIPROC_DIR is not None:
            raise CommandError(
                f"{MULTIPROC_DIR_ENV}={MISSING_MULTIPROC_DIR} is not a directory; create it "
                "(empty), or unset it"
            )
        result: int = args.func(args)
        sys.stdout.flush()  # here, where a reader gone away is caught (not at exit)
    except CommandError as exc:
        print(f"gateway {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of the output went away (`gateway plan ... | head -2`): what it wanted
        # it has. Python would print a traceback at exit flushing stdout into the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
