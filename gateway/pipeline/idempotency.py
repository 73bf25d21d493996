"""Idempotency keys: exactly-once POSTs per the IETF Idempotency-Key draft (STANDARDS.md).

The key and fingerprint, and what a claim's outcome means; the admission step claims and
settles keys, the Store makes claims atomic, and the service layer reconciles with the ERP (by
the gateway reference) when `ctx.reconcile` is set. The policy file's schema is
`gateway.config.idempotency`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import time
from typing import Any

import orjson
from starlette.responses import Response

from gateway.config.idempotency import IdempotencyPolicy, Requirement
from gateway.domain.errors import Code, GatewayError
from gateway.domain.ids import random_hex
from gateway.domain.versions import VERSIONS
from gateway.pipeline.context import RequestContext
from gateway.store.base import ClaimRequest, IdempotencyClaim, StoredResponse

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
DOCS = "https://gateway.example/docs#idempotency"
_KEPT_HEADERS = ("content-type", "location")
_KEPT_RAW_HEADERS = tuple(name.encode("latin-1") for name in _KEPT_HEADERS)
_MAX_KEY = 255


def _invalid(detail: str) -> GatewayError:
    return GatewayError(Code.IDEMPOTENCY_KEY_INVALID, detail, extra={"documentation": DOCS})


def parse_key(values: list[str]) -> str | None:
    """The key from the header: an sf-string (`"abc"`) or, as many SDKs send it, bare."""
    if not values:
        return None
    if len(values) > 1:
        raise _invalid("Send exactly one Idempotency-Key header.")
    raw = values[0].strip()
    if not raw.startswith('"') and "," in raw:
        # Two headers folded into one (`a, b`), or a list: which key was meant is a guess.
        raise _invalid(
            "The Idempotency-Key holds a list; send exactly one key (quote it as a "
            'structured-field string, `"a,b"`, if the key itself contains a comma).'
        )
    key = _sf_string(raw) if raw.startswith('"') else raw
    # Printable ASCII: " " to "~" (ASCII's printable characters are exactly those).
    if not 1 <= len(key) <= _MAX_KEY or not (key.isascii() and key.isprintable()):
        raise _invalid("An Idempotency-Key is 1 to 255 printable ASCII characters.")
    return key


# An Item's parameters (RFC 8941 3.1.2), after its sf-string: `;key` or `;key=bare-item`.
# The draft defines none, so they are read past and ignored.
_BARE_ITEM = (
    r'(?:-?[0-9]{1,15}(?:\.[0-9]{1,3})?|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"'
    r"|[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*|:[A-Za-z0-9+/=]*:|\?[01])"
)
_PARAMETERS = re.compile(rf"(?:;[ ]*[a-z*][a-z0-9_\-.*]*(?:={_BARE_ITEM})?)*")


def _sf_string(raw: str) -> str:
    """An RFC 8941 Item whose value is an sf-string: quoted, with only \\" and \\\\ as
    escapes, and any parameters after it."""
    chars: list[str] = []
    escaped = False
    for at, ch in enumerate(raw[1:], 1):
        if escaped:
            if ch not in '"\\':
                raise _invalid("The Idempotency-Key has an invalid escape.")
            chars.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            if not _PARAMETERS.fullmatch(raw[at + 1 :]):
                raise _invalid("The Idempotency-Key is not a valid structured-field string.")
            return "".join(chars)
        else:
            chars.append(ch)
    raise _invalid("The Idempotency-Key is not a valid structured-field string.")


def fingerprints(method: str, path: str, body: Any) -> tuple[str, tuple[str, ...]]:
    """What makes two requests "the same": method, path and canonical body (the newest
    version's model, whichever version sent it). The request's fingerprint, the one stored,
    and the same request's on each other path it could have been sent on (`equivalent_paths`),
    so that a retry on `/v2/...` of a create sent on `/v1/...` is the same request.

    Each is the digest of `canonical_json([method, path, body])`, as fingerprints always were,
    assembled around the body's canonical JSON made once (a list's is its items' joined by
    commas)."""
    tail = b"," + canonical_json(body) + b"]"
    own, *others = (hashlib.sha256(head + tail).hexdigest() for head in _heads(method, path))
    return own, tuple(others)


@functools.lru_cache(maxsize=1024)
def _heads(method: str, path: str) -> tuple[bytes, ...]:
    """What the fingerprints of a request (`method` on `path`) start with, the request's own
    first, then each equivalent path's: `[method,path,`, made once per method and path (a
    create's path is the same for every request)."""
    head = b"[" + canonical_json(method) + b","
    return tuple(head + canonical_json(p) for p in (path, *equivalent_paths(path)))


def equivalent_paths(path: str) -> list[str]:
    """The other paths a request on `path` could have been sent on: under each other API
    version, and without one (the client's pin); none for a path outside the versions."""
    unversioned = _unversioned(path) or path
    paths = [f"/{version}{unversioned}" for version in VERSIONS]
    paths.append(unversioned)
    return [p for p in paths if p != path]


def canonical_json(value: Any) -> bytes:
    """`value` as JSON with sorted keys and no spaces, every character beyond ASCII escaped:
    the bytes fingerprints were always made of (a key stored by an earlier version must still
    match), by orjson where they are the same bytes (text of printable ASCII and control
    characters; the request models hold no floats), else by the standard library."""
    canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    if canonical.isascii() and b"\x7f" not in canonical:  # the library escapes DEL too
        return canonical
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def scoped_key(client_id: str, key: str) -> str:
    """The store's name for `client_id`'s idempotency `key`: `client:key`, with `%` and `:`
    percent-encoded in the client id, so that no two (client, key) pairs share a name (client
    `crm` with key `eu:1` and client `crm:eu` with key `1` would). A client id with neither,
    as client ids are, is written as it is: its keys keep the names they had."""
    if ":" in client_id or "%" in client_id:
        client_id = client_id.replace("%", "%25").replace(":", "%3A")
    return f"{client_id}:{key}"


def sent_key(ctx: RequestContext, policy: IdempotencyPolicy) -> str | None:
    """The request's Idempotency-Key, if its operation takes keys and it sent a valid one,
    read before anything can refuse the request: so that the journal files even a request
    refused before its key is claimed (its body invalid) under its key, and a replay of it can
    send its correction under that key. A malformed key is None here; `claim_request` refuses
    it."""
    if policy.operations.get(ctx.spec.operation, Requirement.OFF) is Requirement.OFF:
        return None
    try:
        return parse_key(ctx.request.headers.getlist(HEADER))
    except GatewayError:
        return None


def claim_request(
    ctx: RequestContext,
    policy: IdempotencyPolicy,
    backend: str | None = None,
    *,
    commit_window_s: float,
) -> ClaimRequest | None:
    """The claim this request makes, if its operation takes keys and it sent one, marked
    forwarded to `backend` when given; 400 when a required key is missing or malformed.

    Its lease is never renewed, so it runs to the request's deadline and `commit_window_s`
    past it, if that is longer than `lease_s`: a request may work for its whole deadline (it
    waits for another process's copy of its customer, then calls the ERP), and a lease that
    ran out before would let a retry claim the key, search the ERP, find nothing yet and
    submit the document a second time. Past the deadline no call is sent; one cut off by it
    holds the key for the commit window as it settles (as would the lease, its process gone)."""
    requirement = policy.operations.get(ctx.spec.operation, Requirement.OFF)
    if requirement is Requirement.OFF:
        return None
    key = ctx.idempotency_key or parse_key(ctx.request.headers.getlist(HEADER))
    if key is None:
        if requirement is Requirement.REQUIRED:
            raise GatewayError(
                Code.IDEMPOTENCY_KEY_MISSING,
                f"This operation needs an {HEADER} header; send a new unique key per intended "
                "request and the same key on its retries.",
                extra={"documentation": DOCS},
            )
        return None
    ctx.idempotency_key = key
    body = ctx.payload.model_dump(mode="json") if ctx.payload is not None else None
    own, equivalents = fingerprints(ctx.request.method, ctx.path, body)
    return ClaimRequest(
        key=scoped_key(ctx.client_id, key),  # the caller's, never global
        fingerprint=own,
        owner=random_hex(16),
        lease_s=max(policy.lease_s, ctx.deadline - time.monotonic() + commit_window_s),
        retention_s=policy.retention_s,
        backend=backend,
        equivalents=equivalents,
    )


def settled_outcome(ctx: RequestContext, response: Response) -> StoredResponse | None:
    """What to keep under the key: a definitive outcome (the ERP was asked and answered for
    good, accepted or refused); None for anything the client should be able to retry."""
    if not ctx.forwarded or response.status_code >= 500:
        return None
    # As `response.headers.items()` reads them, without building the headers.
    headers = {
        k.decode("latin-1"): v.decode("latin-1")
        for k, v in response.raw_headers
        if k in _KEPT_RAW_HEADERS
    }
    return StoredResponse(response.status_code, headers, bytes(response.body), ctx.system_of_record)


def refusal(claim: IdempotencyClaim, version: str) -> GatewayError | Response:
    """The answer for a key that is not ours to run: a replay (to be shown in `version`, the
    retry's API version), a conflict or a reuse."""
    if claim.state == "completed" and claim.response is not None:
        stored = claim.response
        response = Response(stored.body, stored.status, headers=stored.headers)
        location = response.headers.get("location")
        if location is not None:
            response.headers["location"] = located_in(location, version)
        response.headers[REPLAYED_HEADER] = "true"
        return response
    if claim.state == "in_progress" and claim.held_s is not None:
        # No request runs under the key: it waits out an ERP that may still commit an earlier
        # attempt, and a retry before then would be refused again.
        return GatewayError(
            Code.IDEMPOTENCY_IN_PROGRESS,
            "An earlier request with this key timed out and the ERP may still be committing "
            "it; retry it unchanged after Retry-After.",
            headers={"Retry-After": str(max(1, math.ceil(claim.held_s)))},
        )
    if claim.state == "in_progress":
        return GatewayError(
            Code.IDEMPOTENCY_IN_PROGRESS,
            "A request with this key is still being processed; retry it unchanged.",
            headers={"Retry-After": "1"},
        )
    return GatewayError(
        Code.IDEMPOTENCY_KEY_REUSED,
        f"This {HEADER} was used for a different request; use a new key.",
    )


def located_in(location: str, version: str) -> str:
    """A stored `Location` (`/v1/sales-orders/so_...`) under `version`: the body is stored in
    the newest version and shown in the retry's, which on an unversioned path may not be the
    first attempt's (its client's pin or the default changed since)."""
    rest = _unversioned(location)
    if rest is None or version not in VERSIONS:
        return location
    return f"/{version}{rest}"


def _unversioned(path: str) -> str | None:
    """`path` without its API version's segment (`/v1/sales-orders/so_1`: `/sales-orders/so_1`);
    None for a path under no version."""
    first, slash, rest = path.removeprefix("/").partition("/")
    if not path.startswith("/") or first not in VERSIONS or not slash:
        return None
    return "/" + rest


def key_reused() -> GatewayError:
    """422 for a key whose gateway reference the ERP already holds for another request: the
    same client and key were used (after their retention here) for a different request."""
    return GatewayError(
        Code.IDEMPOTENCY_KEY_REUSED,
        f"This {HEADER} was already used for a different request; use a new key.",
    )
