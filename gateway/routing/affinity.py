"""A customer's place in a canary split (its bucket): fixed when it is created, by a hash of its
external_ref, and carried in its gateway id, so that its orders and reads find it without the store.

Not the split itself (see `gateway.routing.rules`, `Allocation`) nor how ids are made random
(see `gateway.domain.ids`).
"""

from __future__ import annotations

import hashlib

from gateway.domain.ids import GATEWAY_ID_CHARS, new_gateway_id
from gateway.domain.operations import Kind

BUCKETS = 10_000  # a customer's place in a canary split, to 0.01 %
BUCKET_DIGITS = len(str(BUCKETS - 1))  # written after a customer id's random characters
_CARRYING = len(Kind.CUSTOMER.prefix) + GATEWAY_ID_CHARS + BUCKET_DIGITS


def bucket_of(key: str) -> int:
    """The bucket (0 to BUCKETS - 1) a key hashes to, the same on every process and every load."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def new_customer_id(external_ref: str) -> str:
    """A new customer's gateway id, carrying the bucket its creation was routed by (its
    external_ref's): `cus_` + the random characters of every gateway id + 4 digits."""
    return f"{new_gateway_id(Kind.CUSTOMER)}{bucket_of(external_ref):0{BUCKET_DIGITS}d}"


def customer_bucket(customer_id: str) -> int:
    """An existing customer's bucket: the one its id carries; for a customer created before
    ids carried one (its id is 4 characters shorter), the hash of its id, as it always was."""
    carried = customer_id[-BUCKET_DIGITS:]
    if len(customer_id) == _CARRYING and carried.isascii() and carried.isdigit():
        return int(carried)
    return bucket_of(customer_id)


def split_bucket(customer_id: str | None, external_ref: str | None = None) -> int | None:
    """The bucket a split places a request by: an existing customer's (`customer_id`), else
    the one a customer being created with `external_ref` gets; None when it names neither."""
    if customer_id is not None:
        return customer_bucket(customer_id)
    return bucket_of(external_ref) if external_ref is not None else None
