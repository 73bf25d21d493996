"""Gateway identifiers and the deterministic gateway reference sent to the ERPs.

Not the cross-reference itself (see `gateway.store`); only how ids and references are made.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from gateway.domain.operations import Kind

GATEWAY_REF_PREFIX = "gw-"
GATEWAY_REF_LENGTH = 29  # "gw-" + 26: fits SAP's 35-character reference fields


def new_gateway_id(kind: Kind) -> str:
    """A fresh, unguessable gateway id such as `so_6x2m...` (130 random bits, lowercase base32)."""
    raw = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
    return kind.prefix + raw


def gateway_reference(client_id: str, idempotency_key: str | None, gateway_id: str) -> str:
    """The unique, deterministic reference the ERP stores with the document.

    From the client and its idempotency key when there is one (so a retry after the gateway lost
    its state still finds the same document), else from the gateway id.
    """
    # Length-prefixed, so that no two (client, key) pairs give the same seed: without it,
    # client "ab" with key "c" and client "a" with key "bc" would share a reference (and one
    # could be handed the other's document by an ERP that deduplicates on it).
    seed = (
        f"{len(client_id)}:{client_id}{idempotency_key}"
        if idempotency_key is not None
        else gateway_id
    )
    digest = base64.b32encode(hashlib.sha256(seed.encode("utf-8")).digest()).decode("ascii")
    return GATEWAY_REF_PREFIX + digest[:26]
