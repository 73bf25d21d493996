"""The runtime: everything the request path uses, compiled once from one loaded configuration.

Not the loading (see `gateway.configuration`) and not the HTTP app (see `gateway.app`). A reload
builds a new runtime and swaps it in whole; a request keeps the one it started with.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.adapters.base import ErpAdapter
from gateway.adapters.http import RetryHooks, transport_for
from gateway.adapters.netsuite import build_netsuite_adapter
from gateway.adapters.sap import build_sap_adapter
from gateway.config.backends import BackendConfig, NetSuiteBackend, SapBackend
from gateway.config.idempotency import IdempotencyPolicy
from gateway.config.issues import ConfigError, ConfigIssue
from gateway.config.lint import backend_file
from gateway.config.loader import GatewayConfig
from gateway.config.rate_limits import BackendBudget, RateLimitPolicy
from gateway.forced_stop import Unwritten
from gateway.observability.metrics import ERP_RETRIES, ERP_UNMAPPED_CODES, JOURNAL_WRITE_FAILURES
from gateway.pipeline.auth import Authenticator, build_authenticator
from gateway.pipeline.auth_failures import FailedAddresses, failure_limit
from gateway.pipeline.entitlements import Entitlement, compile_entitlements
from gateway.pipeline.ratelimit import erp_requests
from gateway.pipeline.releases import PendingReleases
from gateway.pipeline.versioning import VersionTable, compile_versions
from gateway.routing.rules import RoutingTable, compile_routes
from gateway.service.breaker import Breakers
from gateway.service.erp_calls import Backend, timeouts_of
from gateway.store.audit import AuditTrail
from gateway.store.base import Store, StoreUnavailable
from gateway.store.events import EventRetention
from gateway.store.journal import JournalLog, JournalRetention

log = logging.getLogger("gateway")


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
    # What lives as long as the process, handed from runtime to runtime on reload.
    breakers: Breakers
    failed_addresses: FailedAddresses  # each address's authentication failures, counted
    journal: JournalLog
    audit: AuditTrail
    releases: PendingReleases
    event_retention: EventRetention  # the domain events' timelines and dead letters
    request_timeout_s: float  # operations.yaml `requests.timeout_s`: each request's deadline
    demo: bool = False  # `gateway demo`: the demo issuer may sign with the published dev secret

    def timeouts(self) -> dict[str, float]:
        """Each backend's `timeout_s`, by name."""
        return timeouts_of(self.backends)

    async def aclose_adapters(self) -> None:
        for backend in self.backends.values():
            await backend.adapter.aclose()

    async def aclose(self) -> None:
        """At shutdown: the journal and the audit trail written out, then every connection
        closed (the ERPs' pools, the store)."""
        for buffer in self._buffers():
            await buffer.aclose()
        await self.aclose_adapters()
        await self.store.aclose()

    async def write_out(self, timeout_s: float) -> Unwritten:
        """Told to quit at once: `aclose`'s writes (the journal, the audit trail, the pending
        releases), side by side, for `timeout_s` at most; what they left. Not the rest of it:
        the ERPs' pools and the store's connections close with the process."""
        buffers = self._buffers()
        # Side by side: each writes what it can.
        writing = [asyncio.create_task(buffer.aclose()) for buffer in buffers]
        done, late = await asyncio.wait(writing, timeout=timeout_s)
        for task in late:
            task.cancel()  # not waited for: what is left is said, and lost with the process
        for task in done:
            failed = task.exception()
            if failed is not None:
                log.error("writing out at the stop failed", exc_info=failed)
        return Unwritten(*(buffer.pending for buffer in buffers))

    def _buffers(self) -> tuple[JournalLog, AuditTrail, PendingReleases]:
        """What the process holds for the store until written out: the journal's entries, the
        audit trail's, and the ERP slots and budgets requests give back (`Unwritten`'s order)."""
        return (self.journal, self.audit, self.releases)


def build_adapter(
    name: str,
    config: BackendConfig,
    env: Mapping[str, str],
    store: Store | None = None,
    budget: BackendBudget | None = None,
    config_dir: Path | None = None,
) -> ErpAdapter:
    """The adapter for a backend's kind, with its pooled transport and credentials from `env`
    (and key files, relative to `config_dir`); with `store`, each retry of the transport spends
    a request of `budget`; each code of the ERP's answers its value maps do not know is counted."""
    hooks = retry_hooks(name, store, budget) if store is not None else None
    transport = transport_for(name, config, hooks)

    def count_unmapped(kind: str) -> None:
        ERP_UNMAPPED_CODES.labels(name, kind).inc()

    if isinstance(config, SapBackend):
        return build_sap_adapter(name, config, env, transport, count_unmapped)
    if isinstance(config, NetSuiteBackend):
        return build_netsuite_adapter(name, config, env, config_dir, transport, count_unmapped)
    raise ValueError(f"backend {name}: unsupported kind")  # pragma: no cover - schema forbids


def retry_hooks(name: str, store: Store, budget: BackendBudget | None) -> RetryHooks:
    """A retry spends a request of the backend's budget (an adapter is rebuilt on reload when
    its budget changes), and is counted."""

    async def permit() -> bool:
        if budget is None:
            return True
        bucket = erp_requests(name, budget)
        try:
            decision = await store.rate_limit(bucket.key, bucket.rate_per_s, bucket.burst)
        except StoreUnavailable:
            return False
        return decision.allowed

    def observe(reason: str) -> None:
        ERP_RETRIES.labels(name, reason).inc()

    return RetryHooks(permit, observe)


def build_runtime(
    config: GatewayConfig,
    store: Store,
    env: Mapping[str, str] | None = None,
    adapters: Mapping[str, ErpAdapter] | None = None,
    previous: Runtime | None = None,
    demo: bool = False,
) -> Runtime:
    """Compile a loaded configuration into the request path's runtime.

    `adapters` reuses live adapters by backend name (a reload keeps warm ERP connections);
    `previous` hands over what lives as long as the process: the circuit breakers, the journal,
    the audit trail (their settings updated from `config`), the pending releases, each
    address's authentication failures (counted against `config`'s limit) and whether
    this is `gateway demo` (`demo`: trusts the published dev secret; nothing else does).
    `ConfigError` when an issuer's HMAC secret is unsafe or its key file unusable, or a
    backend's credentials are (naming its file).
    """
    env = os.environ if env is None else env
    demo = previous.demo if previous is not None else demo
    failed_addresses = previous.failed_addresses if previous is not None else FailedAddresses()
    limit = failure_limit(config.rate_limits.auth_failures, failed_addresses)
    # First: a refused secret must leave the running runtime as it was and open no ERP pool.
    authenticator = build_authenticator(config.auth, config.config_dir, env, demo, limit)
    if previous is not None:
        breakers, journal, audit = previous.breakers, previous.journal, previous.audit
        releases = previous.releases
        journal.retention = _retention(config)
        audit.max_entries = config.operations.audit.max_entries
    else:
        breakers = Breakers()
        journal = JournalLog(store.journal, _retention(config), _journal_failed)
        audit = AuditTrail(store.audit, config.operations.audit.max_entries, _audit_failed)
        releases = PendingReleases(store)
    backends = {}
    for name, backend in config.backends.items():
        budget = config.rate_limits.backends.get(name)
        adapter = (adapters or {}).get(name) or _adapter_of(
            name, backend, env, store, budget, config.config_dir
        )
        breaker = breakers.for_backend(name, backend.breaker)
        backends[name] = Backend(name, adapter, backend.timeout_s, breaker)
    return Runtime(
        config=config,
        routing=compile_routes(config.routes),
        authenticator=authenticator,
        entitlements=compile_entitlements(config.clients, config.auth),
        versions=compile_versions(config.api_versions, config.clients),
        rate_limits=config.rate_limits,
        idempotency=config.idempotency,
        env=env,
        backends=backends,
        store=store,
        breakers=breakers,
        failed_addresses=failed_addresses,
        journal=journal,
        audit=audit,
        releases=releases,
        event_retention=_event_retention(config),
        request_timeout_s=config.operations.requests.timeout_s,
        demo=demo,
    )


def _adapter_of(
    name: str,
    config: BackendConfig,
    env: Mapping[str, str],
    store: Store,
    budget: BackendBudget | None,
    config_dir: Path,
) -> ErpAdapter:
    """`build_adapter`, its unusable credentials a `ConfigError` of the backend's file (its
    key file was checked at its line when loaded; it may have changed since)."""
    try:
        return build_adapter(name, config, env, store, budget, config_dir)
    except ValueError as exc:
        raise ConfigError([ConfigIssue(backend_file(name), None, str(exc))]) from None


def _retention(config: GatewayConfig) -> JournalRetention:
    policy = config.operations.journal
    return JournalRetention(float(policy.retention_s), policy.max_entries)


def _event_retention(config: GatewayConfig) -> EventRetention:
    policy = config.operations.events
    return EventRetention(
        float(policy.timelines.retention_s),
        float(policy.dead_letters.retention_s),
        policy.dead_letters.max_entries,
        float(policy.documents.retention_s),
    )


def _journal_failed(count: int) -> None:
    JOURNAL_WRITE_FAILURES.inc(count)


def _audit_failed(count: int) -> None:
    JOURNAL_WRITE_FAILURES.inc(count)
