"""The domain events' metrics: ERP notifications received and webhook deliveries, by outcome;
the webhook subscriptions disabled.

Beside `metrics.py` (the same registry, so `/metrics` shows them) rather than in it, as one
concept of its own. Not the delivery itself (see `gateway.ops.event_delivery`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ERP_NOTIFICATIONS = Counter(
    "gateway_erp_notifications_total",
    "Change notifications the ERPs pushed (or the gateway polled), by backend and outcome "
    "(recorded, unchanged, stale, unknown_order, ignored, unauthorized, invalid, retry_later, "
    "error: a 500, the gateway's defect).",
    ["backend", "outcome"],
)
EVENTS_RECORDED = Counter(
    "gateway_events_recorded_total",
    "Canonical domain events recorded, by event type.",
    ["type"],
)
WEBHOOK_DELIVERIES = Counter(
    "gateway_webhook_deliveries_total",
    "Webhook delivery attempts, by subscription and outcome (delivered, retried, "
    "dead_lettered, replayed, withheld; disabled: kept as a dead letter untried, its "
    "subscription disabled).",
    ["subscription", "outcome"],
)
WEBHOOK_SUBSCRIPTIONS_DISABLED = Counter(
    "gateway_webhook_subscriptions_disabled_total",
    "Webhook subscriptions disabled because their subscriber answered 410 Gone.",
    ["subscription"],
)
WEBHOOK_DISABLED_SUBSCRIPTIONS = Gauge(
    "gateway_webhook_disabled_subscriptions",
    "Webhook subscriptions disabled now (their subscriber answered 410 Gone at the URL each "
    "has); read from the store when scraped.",
    multiprocess_mode="mostrecent",
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "gateway_webhook_delivery_duration_seconds",
    "Time of one delivery attempt to a subscriber, by subscription.",
    ["subscription"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
