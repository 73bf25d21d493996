"""The runtime: everything the request path uses, compiled once from one loaded configuration.

Not the loading (see `gateway.configuration`) and not the HTTP app (see `gateway.app`). A reload
builds a new runtime and swaps it in whole; a request keeps the one it started with.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.adapters.base import ErpAdapter
from gateway.adapters.netsuite import build_netsuite_adapter
from gateway.adapters.sap import build_sap_adapter
from gateway.config.backends import BackendConfig, NetSuiteBackend, SapBackend
from gateway.config.idempotency import IdempotencyPolicy
from gateway.config.loader import GatewayConfig
from gateway.config.rate_limits import RateLimitPolicy
from gateway.pipeline.auth import Authenticator, build_authenticator
from gateway.pipeline.entitlements import Entitlement, compile_entitlements
from gateway.pipeline.versioning import VersionTable, compile_versions
from gateway.routing.rules import RoutingTable, compile_routes
from gateway.service.erp_calls import Backend
from gateway.store.base import Store

DEFAULT_REQUEST_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Runtime:
    config: GatewayConfig
    routing: RoutingTable
    authenticator: Authenticator
    entitlements: Mapping[str, Entitlement]
    versions: VersionTable
    backends: Mapping[str, Backend]
    store: Store
    rate_limits: RateLimitPolicy
    idempotency: IdempotencyPolicy
    env: Mapping[str, str]  # what credentials and secrets were resolved from (reloads reuse it)
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S

    def timeouts(self) -> dict[str, float]:
        """Each backend's `timeout_s`, by name."""
        return {name: backend.timeout_s for name, backend in self.backends.items()}

    async def aclose_adapters(self) -> None:
        for backend in self.backends.values():
            await backend.adapter.aclose()


def build_adapter(
    name: str, config: BackendConfig, env: Mapping[str, str], config_dir: Path | None = None
) -> ErpAdapter:
    """The adapter for a backend's kind, with its pooled transport and credentials from `env`
    (and key files, relative to `config_dir`)."""
    if isinstance(config, SapBackend):
        return build_sap_adapter(name, config, env)
    if isinstance(config, NetSuiteBackend):
        return build_netsuite_adapter(name, config, env, config_dir)
    raise ValueError(f"backend {name}: unsupported kind")  # pragma: no cover - schema forbids


def build_runtime(
    config: GatewayConfig,
    store: Store,
    env: Mapping[str, str] | None = None,
    adapters: Mapping[str, ErpAdapter] | None = None,
) -> Runtime:
    """Compile a loaded configuration into the request path's runtime.

    `adapters` reuses live adapters by backend name (a reload keeps warm ERP connections).
    """
    env = os.environ if env is None else env
    backends = {}
    for name, backend in config.backends.items():
        adapter = (adapters or {}).get(name) or build_adapter(name, backend, env, config.config_dir)
        backends[name] = Backend(name, adapter, backend.timeout_s)
    return Runtime(
        config=config,
        routing=compile_routes(config.routes),
        authenticator=build_authenticator(config.auth, config.config_dir, env),
        entitlements=compile_entitlements(config.clients),
        versions=compile_versions(config.api_versions, config.clients),
        rate_limits=config.rate_limits,
        idempotency=config.idempotency,
        env=env,
        backends=backends,
        store=store,
    )
