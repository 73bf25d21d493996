"""What a webhook delivery carries and when it is tried again."""

from __future__ import annotations

import base64
import datetime as dt
import json
import random

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.config.events import DeliveryPolicy
from gateway.ops.event_delivery import retry_delay, signed_headers

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def test_a_delivery_verifies_with_the_standardwebhooks_library_and_only_unchanged() -> None:
    body = json.dumps({"id": "evt_1", "type": "sales_order.shipped"})
    headers = signed_headers([Webhook(SECRET)], "evt_1", body, dt.datetime.now(dt.UTC))
    assert headers["webhook-id"] == "evt_1"
    assert Webhook(SECRET).verify(body, headers)["type"] == "sales_order.shipped"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace("shipped", "paid"), headers)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)


def test_retries_wait_up_to_each_step_of_the_schedule_then_stop() -> None:
    policy = DeliveryPolicy(retry_schedule_s=[1, 10, 100], timeout_s=1, lease_s=5)
    rng = random.Random(3)
    for failures, ceiling in ((1, 1), (2, 10), (3, 100)):
        delays = [retry_delay(policy, failures, rng) for _ in range(200)]
        assert all(d is not None and 0 <= d <= ceiling for d in delays)
        assert max(d for d in delays if d is not None) > ceiling / 2  # jittered over the range
    assert retry_delay(policy, 4, rng) is None  # the schedule is spent: a dead letter


def test_a_delivery_signed_with_two_secrets_carries_both_signatures_in_order() -> None:
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    at = dt.datetime.now(dt.UTC)
    headers = signed_headers([Webhook(SECRET), Webhook(other)], "evt_1", "{}", at)
    assert headers["webhook-signature"].split(" ") == [
        Webhook(SECRET).sign("evt_1", at, "{}"),
        Webhook(other).sign("evt_1", at, "{}"),
    ]
