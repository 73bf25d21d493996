"""A webhook subscription's signing secret (Standard Webhooks: `whsec_` and base64), from the
environment variable its `secret_env` or `previous_secret_env` names: one check, alike when the
configuration loads (a warning at that line) and when a delivery is signed (its `last_error`).

Not how a delivery is signed or sent (see `gateway.ops.event_delivery`).
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook


def signing_key(env: Mapping[str, str], variable: str) -> Webhook:
    """The Standard Webhooks key in `variable`; ValueError saying why there is none (it is
    unset or holds no Standard Webhooks secret), the variable named."""
    secret = env.get(variable)
    if not secret:
        raise ValueError(f"the signing secret {variable} is not set")
    try:
        return Webhook(secret)
    except (ValueError, binascii.Error, EmptyWebhookSecretError):  # the last: only whsec_
        raise ValueError(
            f"the signing secret {variable} is not a Standard Webhooks secret (whsec_ and base64)"
        ) from None
