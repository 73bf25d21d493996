"""The runtime: everything the request path uses, compiled once from one loaded configuration.

Not the loading (see `gateway.config`) and not the HTTP app (see `gateway.app`). A reload builds
a new runtime and swaps it in whole; a request keeps the one it started with.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.adapters.base import ErpAdapter
from gateway.config.backends import BackendConfig, NetSuiteBackend, SapBackend
from gateway.config.loader import GatewayConfig
from gateway.pipeline.auth import Authenticator, build_authenticator
from gateway.pipeline.entitlements import Entitlement, compile_entitlements
from gateway.pipeline.idempotency import IdempotencyPolicy
from gateway.pipeline.ratelimit import RateLimitPolicy
from gateway.routing.rules import RoutingTable, compile_routing
from gateway.store.base import Store

DEFAULT_REQUEST_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class BackendBinding:
    name: str
    adapter: ErpAdapter
    timeout_s: float


@dataclass(frozen=True)
class Runtime:
    config: GatewayConfig
    routing: RoutingTable
    authenticator: Authenticator
    entitlements: Mapping[str, Entitlement]
    backends: Mapping[str, BackendBinding]
    store: Store
    rate_limits: RateLimitPolicy
    idempotency: IdempotencyPolicy
    env: Mapping[str, str]  # what credentials and secrets were resolved from (reloads reuse it)
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S

    def backend(self, name: str) -> BackendBinding:
        return self.backends[name]

    async def aclose_adapters(self) -> None:
        for binding in self.backends.values():
            await binding.adapter.aclose()


def build_adapter(name: str, config: BackendConfig, env: Mapping[str, str]) -> ErpAdapter:
    """The adapter for a backend's kind, with its pooled transport and credentials from `env`."""
    if isinstance(config, SapBackend):
        from gateway.adapters.sap_odata import build_sap_adapter

        return build_sap_adapter(name, config, env)
    if isinstance(config, NetSuiteBackend):
        from gateway.adapters.netsuite_rest import build_netsuite_adapter

        return build_netsuite_adapter(name, config, env)
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
    bindings = {}
    for name, backend in config.backends.items():
        adapter = (adapters or {}).get(name) or build_adapter(name, backend, env)
        bindings[name] = BackendBinding(name, adapter, backend.timeout_s)
    return Runtime(
        config=config,
        routing=compile_routing(config),
        authenticator=build_authenticator(config.auth, config.config_dir, env),
        entitlements=compile_entitlements(config.clients),
        rate_limits=config.rate_limits,
        idempotency=config.idempotency,
        env=env,
        backends=bindings,
        store=store,
    )
