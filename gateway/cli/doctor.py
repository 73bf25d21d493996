"""`gateway doctor`: whether a live ERP is set up as the gateway needs (login, services, custom
fields, value maps), each check said in a line; exit 1 if one fails."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from gateway.adapters.base import CallContext, DoctorCheck
from gateway.cli.arguments import add_config_dir
from gateway.cli.base import CommandError, config_dir, load
from gateway.cli.credentials import require_credentials
from gateway.config.backends import BackendConfig
from gateway.config.issues import BACKENDS_DIR
from gateway.config.loader import GatewayConfig
from gateway.demo import SIMULATOR_CREDENTIALS
from gateway.domain.listing import known
from gateway.runtime import build_adapter

DOCTOR_TIMEOUT_S = 30.0  # for every check of one backend


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backend", help="the backend's name (backends/<name>.yaml)")
    add_config_dir(parser)
    parser.add_argument(
        "--demo-credentials",
        action="store_true",
        help="log in with the simulators' published demo credentials, as `gateway demo` does",
    )
    parser.set_defaults(func=doctor)


def doctor(args: argparse.Namespace) -> int:
    config = load(config_dir(args.config_dir))
    backend = config.backends.get(args.backend)
    if backend is None:
        raise CommandError(
            f"no backend {args.backend!r} in {BACKENDS_DIR}/ {known(config.backends)}"
        )
    env = {**os.environ, **SIMULATOR_CREDENTIALS} if args.demo_credentials else dict(os.environ)
    single = GatewayConfig(**{**vars(config), "backends": {args.backend: backend}})
    require_credentials(single, env)
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
