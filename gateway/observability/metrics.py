"""The gateway's metrics, through prometheus_client: technical (requests, ERP calls, retries,
breakers, refusals, reloads) and business (orders by outcome, acceptance time, customers,
open exceptions), the business ones labelled by legal entity and backend.

With `PROMETHEUS_MULTIPROC_DIR` set (`gateway serve --workers N` sets it), each worker writes
its figures there and `/metrics` adds them up: one truth whichever worker is scraped.

Not tracing or logging; counts and latency buckets only, with bounded label values.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any, Generic, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from gateway import MULTIPROC_DIR_ENV

CONTENT_TYPE = CONTENT_TYPE_LATEST
NO_BACKEND = "none"  # the label of a request that never reached a backend
NO_OPERATION = "none"  # the label of a request refused before it named an operation

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_ACCEPTANCE = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


M = TypeVar("M", Counter, Histogram)


class Children(Generic[M]):
    """A metric's labelled children, kept by their label values: prometheus_client's `labels`
    builds and locks on every call, which shows on the request path."""

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def labels(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


# Technical.
REQUEST_SECONDS = Histogram(
    "gateway_request_duration_seconds",
    "Time from a request's arrival to its answer, by operation, HTTP status and backend.",
    ["operation", "status", "backend"],
    buckets=_LATENCY,
)
ERP_CALL_SECONDS = Histogram(
    "gateway_erp_call_duration_seconds",
    "Time of one ERP call (retries included), by backend, ERP operation, outcome (ok, "
    "rejected, timeout, unavailable, bad_response, breaker_open, abandoned, late: the request "
    "out of time before the call) and origin (client, notification, polling, migration).",
    ["backend", "erp_operation", "outcome", "origin"],
    buckets=_LATENCY,
)
REQUEST_SECONDS_BY: Children[Histogram] = Children(REQUEST_SECONDS)
ERP_CALL_SECONDS_BY: Children[Histogram] = Children(ERP_CALL_SECONDS)
ERP_RETRIES = Counter(
    "gateway_erp_retries_total",
    "HTTP requests to an ERP tried again, by backend and reason.",
    ["backend", "reason"],
)
ERP_UNMAPPED_CODES = Counter(
    "gateway_erp_unmapped_codes_total",
    "Codes in ERP answers the backend's value maps do not know (sku, payment_terms, "
    "legal_entity, currency, credit_status), read with a fallback, by backend and kind; the "
    "log names each code once.",
    ["backend", "kind"],
)
BREAKER_STATE = Gauge(
    "gateway_breaker_state",
    "Each backend's circuit breaker, the worst of any live process: 0 closed, 1 half-open, 2 open.",
    ["backend"],
    multiprocess_mode="livemax",  # a dead worker's breaker is no one's (`_forget_the_dead`)
)
BREAKER_TRANSITIONS = Counter(
    "gateway_breaker_transitions_total",
    "Circuit breaker changes of state, by backend and the state entered.",
    ["backend", "state"],
)
AUTH_FAILURES = Counter(
    "gateway_auth_failures_total",
    "Requests refused for their credentials, by reason: missing, malformed, unknown_issuer, "
    "algorithm_not_allowed, unknown_key, bad_signature, expired, not_yet_valid, "
    "wrong_audience, invalid_claims, too_long_lived (each a 401), unknown_client (a 403).",
    ["reason"],
)
AUTH_FAILURES_BY: Children[Counter] = Children(AUTH_FAILURES)
AUTH_FAILURES_LIMITED = Counter(
    "gateway_auth_failures_limited_total",
    "Requests refused 429 before any token check: their address failed authentication too "
    "often (rate-limits.yaml auth_failures).",
)
RATE_LIMITED = Counter(
    "gateway_rate_limited_total",
    "Requests refused 429 for their client's rate limit, by tier.",
    ["tier"],
)
SHED = Counter(
    "gateway_shed_total",
    "Requests refused 503 because an ERP's budget had no room, by backend.",
    ["backend"],
)
IDEMPOTENT_REPLAYS = Counter(
    "gateway_idempotent_replays_total",
    "Requests answered with a stored outcome under their Idempotency-Key, by operation.",
    ["operation"],
)
RELOADS = Counter(
    "gateway_config_reloads_total",
    "Configuration reloads, by result (applied or refused).",
    ["result"],
)
JOURNAL_WRITE_FAILURES = Counter(
    "gateway_journal_write_failures_total",
    "Journal entries the store refused (kept in memory and written again).",
)
LOG_DROPPED = Counter(
    "gateway_log_dropped_lines_total",
    "Log lines lost because writing them failed (a full disk, a closed standard output), by "
    "log (access, application).",
    ["log"],
)

# Business.
ORDERS = Counter(
    "gateway_orders_total",
    "Sales orders the ERP answered, by legal entity, backend and outcome "
    "(accepted, on_hold, rejected).",
    ["legal_entity", "backend", "outcome"],
)
ORDER_ACCEPTANCE_SECONDS = Histogram(
    "gateway_order_acceptance_seconds",
    "Time from an order's arrival to the ERP's acceptance, by legal entity and backend.",
    ["legal_entity", "backend"],
    buckets=_ACCEPTANCE,
)
CUSTOMERS_CREATED = Counter(
    "gateway_customers_created_total",
    "Customers the ERP created, by legal entity and backend.",
    ["legal_entity", "backend"],
)
ORDERS_BY: Children[Counter] = Children(ORDERS)
ORDER_ACCEPTANCE_SECONDS_BY: Children[Histogram] = Children(ORDER_ACCEPTANCE_SECONDS)
CUSTOMERS_CREATED_BY: Children[Counter] = Children(CUSTOMERS_CREATED)
OPEN_EXCEPTIONS = Gauge(
    "gateway_open_exceptions",
    "Transactions that failed and were not replayed or retried since, by age "
    "(lt_1h, 1h_to_24h, gt_24h); read from the journal when scraped.",
    ["age"],
    multiprocess_mode="mostrecent",
)


def _registry() -> CollectorRegistry:
    """This process's metrics, or with multiprocess mode on, every worker's added up."""
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if directory:
        _forget_the_dead(directory)
        registry = CollectorRegistry()
        _WorkersCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


class _WorkersCollector(multiprocess.MultiProcessCollector):
    """prometheus_client's sum of every worker's files, without the files still empty: a
    worker starting (after a crash, say) creates its file, then sizes it; read in between,
    it failed the whole scrape (500 on /metrics and the dashboard's overview). An empty file
    holds no figure yet."""

    def collect(self) -> Any:
        files = glob.glob(os.path.join(self._path, "*.db"))
        sized = [f for f in files if _sized(f)]
        return self.merge(sized, accumulate=True)  # type: ignore[no-untyped-call]


def _sized(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:  # gone since the listing: a dead worker's live gauge, forgotten
        return False


_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def _forget_the_dead(directory: str) -> None:
    """Drop the live-mode gauges of workers that are gone (a crash, a kill, a restart): what
    they said is no one's now. Their counters and histograms stay, being totals."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for pid in {int(m.group(1)) for n in names if (m := _LIVE_GAUGE_FILE.fullmatch(n))}:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and not ours to judge
    return True


def exposition() -> bytes:
    """Every metric in the text format."""
    return generate_latest(_registry())


# The business figures kept per legal entity: those a regional operator is shown, of its own.
PER_LEGAL_ENTITY = ("orders", "order_acceptance", "customers_created")


def business_figures(within: frozenset[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The business figures since the gateway started, for the operations dashboard: orders by
    outcome, mean acceptance time and customers created, per legal entity and backend; ERP
    retries per backend. With `within` (a regional operator's legal entities), the figures of
    those entities only, and no ERP retries: they are counted per backend, for every entity."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for metric in _registry().collect():
        for sample in metric.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    orders = [
        {**labels, "count": int(value)}
        for labels, value in samples.get("gateway_orders_total", [])
        if value
    ]
    customers = [
        {**labels, "count": int(value)}
        for labels, value in samples.get("gateway_customers_created_total", [])
        if value
    ]
    sums = {
        (labels["legal_entity"], labels["backend"]): value
        for labels, value in samples.get("gateway_order_acceptance_seconds_sum", [])
    }
    acceptance = [
        {
            "legal_entity": labels["legal_entity"],
            "backend": labels["backend"],
            "count": int(value),
            "mean_s": round(sums.get((labels["legal_entity"], labels["backend"]), 0.0) / value, 3),
        }
        for labels, value in samples.get("gateway_order_acceptance_seconds_count", [])
        if value
    ]
    retries = [
        {**labels, "count": int(value)}
        for labels, value in samples.get("gateway_erp_retries_total", [])
        if value
    ]
    figures = {
        "orders": sorted(orders, key=lambda r: (r["legal_entity"], r["backend"], r["outcome"])),
        "order_acceptance": sorted(acceptance, key=lambda r: (r["legal_entity"], r["backend"])),
        "customers_created": sorted(customers, key=lambda r: (r["legal_entity"], r["backend"])),
        "erp_retries": sorted(retries, key=lambda r: (r["backend"], r["reason"])),
    }
    if within is None:
        return figures
    return {
        name: [row for row in rows if row["legal_entity"] in within]
        for name, rows in figures.items()
        if name in PER_LEGAL_ENTITY
    }


# Shadow traffic (evidence before a move), by the legal entity and operation of the report.
SHADOW_SAMPLES = Counter(
    "gateway_shadow_samples_total",
    "Requests sampled for shadow traffic, by legal entity, operation and outcome (compared, "
    "not_comparable, skipped, failed).",
    ["legal_entity", "operation", "outcome"],
)
SHADOW_MATCHES = Counter(
    "gateway_shadow_matches_total",
    "Compared samples whose two answers matched, noise fields aside.",
    ["legal_entity", "operation"],
)
SHADOW_DIFFERENCES = Counter(
    "gateway_shadow_differences_total",
    "Compared samples in which a field differed between the ERPs, by field (list positions "
    "folded to *); fields found to be noise in the same sample are not counted.",
    ["legal_entity", "operation", "field"],
)
SHADOW_NOISE = Counter(
    "gateway_shadow_noise_total",
    "Noise-baseline samples in which a field differed between two calls to the primary.",
    ["legal_entity", "operation", "field"],
)
