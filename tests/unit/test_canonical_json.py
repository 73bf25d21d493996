"""The canonical JSON idempotency fingerprints are made of: the same bytes as the standard
library's sorted, compact, ASCII-escaped JSON (what every earlier version stored), for text
of any kind; and the fingerprints made of it, a request's and its equivalents on other paths."""

from __future__ import annotations

import hashlib
import json
import random
import string

import pytest

from gateway.pipeline.idempotency import canonical_json, fingerprints

# Every ASCII character (control characters, quotes and backslashes included) and some beyond.
CHARACTERS = [chr(c) for c in range(128)] + ["é", "ß", "€", "\u2028", "😀", "中"]


def stdlib(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def text(rng: random.Random, alphabet: list[str]) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def document(rng: random.Random, alphabet: list[str], depth: int = 0) -> object:
    kind = rng.randint(0, 5 if depth < 3 else 3)
    if kind == 0:
        return text(rng, alphabet)
    if kind == 1:
        return rng.randint(-(10**12), 10**12)
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return text(rng, list(string.digits + "."))
    if kind == 4:
        return [document(rng, alphabet, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = {text(rng, alphabet) for _ in range(rng.randint(0, 5))}
    return {key: document(rng, alphabet, depth + 1) for key in keys}


def test_the_bytes_are_the_standard_librarys_for_ascii_text() -> None:
    rng = random.Random(16)
    ascii_only = CHARACTERS[:128]
    for _ in range(2000):
        value = ["POST", "/v2/sales-orders", document(rng, ascii_only)]
        assert canonical_json(value) == stdlib(value)


def test_the_bytes_are_the_standard_librarys_for_any_text() -> None:
    rng = random.Random(61)
    for _ in range(2000):
        value = ["POST", "/v2/customers", document(rng, CHARACTERS)]
        assert canonical_json(value) == stdlib(value)


def stored_before(method: str, path: str, body: object) -> str:
    """The fingerprint every earlier version stored (and, during a rolling deploy, still
    compares by equality): sha256 of the standard library's JSON of [method, path, body]."""
    return hashlib.sha256(stdlib([method, path, body])).hexdigest()


@pytest.mark.parametrize(
    ("path", "others"),
    [
        ("/v1/sales-orders", ["/v2/sales-orders", "/sales-orders"]),
        (
            "/v2/sales-orders/so_1/cancel",
            ["/v1/sales-orders/so_1/cancel", "/sales-orders/so_1/cancel"],
        ),
        ("/sales-orders", ["/v1/sales-orders", "/v2/sales-orders"]),
        ("/customers%3Fa", ["/v1/customers%3Fa", "/v2/customers%3Fa"]),
    ],
)
def test_a_fingerprint_is_the_one_stored_before_and_its_equivalents_are_other_paths(
    path: str, others: list[str]
) -> None:
    rng = random.Random(path)
    for _ in range(200):
        body = document(rng, CHARACTERS)
        own, equivalents = fingerprints("POST", path, body)
        assert own == stored_before("POST", path, body)
        assert equivalents == tuple(stored_before("POST", p, body) for p in others)
