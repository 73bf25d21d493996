"""NetSuite refusals to canonical problems: `o:errorDetails` to codes and pointers into the
client's request, in canonical words (NetSuite's own kept as `erp_message`), HTTP failures and
concurrency governance to technical problems, and the duplicate-externalId answer.

Not successful answers (see `inbound.py`) nor the wording (see `messages.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from gateway.adapters.http import ErpResponse, retry_after_delay
from gateway.adapters.netsuite.fields import bad_response
from gateway.adapters.netsuite.messages import canonical_text
from gateway.adapters.netsuite.records import Interaction
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.domain.errors import Code, ErpFailure, FieldError, GatewayError

DUPLICATE_RECORD_CODE = "DUP_RCRD"
NOT_FOUND_CODE = "NONEXISTENT_ID"  # what NetSuite says of a record id (or eid:) it has not
# Concurrency governance: REST web services answer 429 CONCURRENCY_LIMIT_EXCEEDED; RESTlets and
# older answers used 400 with these codes. Refused on arrival, so safe to send again.
GOVERNANCE_CODES = frozenset(
    {"CONCURRENCY_LIMIT_EXCEEDED", "REQUEST_LIMIT_EXCEEDED", "SSS_REQUEST_LIMIT_EXCEEDED"}
)
GOVERNANCE_RETRY_AFTER_S = "1"  # NetSuite sends no Retry-After; one second is its own advice
_LINE_PATH = re.compile(r"^item\.items\[(\d+)\]\.(\w+)")
_ADDRESS_PATH = re.compile(r"^addressBook(?:\.items\[(\d+)\](?:\.addressBookAddress)?)?\.?(\w*)")


_CUSTOMER_FIELDS: dict[str, tuple[Code, str]] = {
    "vatRegNumber": (Code.TAX_ID_REQUIRED, "/tax_id"),
    "terms": (Code.INVALID_PAYMENT_TERMS, "/payment_terms"),
    "subsidiary": (Code.ERP_REJECTED, "/legal_entity"),
    "currency": (Code.ERP_REJECTED, "/currency"),
    "email": (Code.ERP_REJECTED, "/email"),
    "companyName": (Code.ERP_REJECTED, "/legal_name"),
    "creditLimit": (Code.ERP_REJECTED, "/credit_limit"),
    "accountNumber": (Code.ERP_REJECTED, "/external_ref"),
}


_ADDRESS_FIELDS = {
    "addr1": "line1",
    "addr2": "line2",
    "city": "city",
    "zip": "postal_code",
    "state": "region",
    "country": "country",
}


_ORDER_FIELDS: dict[str, tuple[Code, str]] = {
    "entity": (Code.CUSTOMER_NOT_FOUND, "/customer_id"),
    "subsidiary": (Code.CUSTOMER_LEGAL_ENTITY_MISMATCH, "/customer_id"),
    "currency": (Code.ERP_REJECTED, "/currency"),
    "shipDate": (Code.ERP_REJECTED, "/requested_delivery_date"),
    "otherRefNum": (Code.ERP_REJECTED, "/external_ref"),
}


_ORDER_LINE_FIELDS: dict[str, tuple[Code, str]] = {
    "item": (Code.UNKNOWN_SKU, "product_id"),
    "rate": (Code.PRICE_MISMATCH, "price/amount"),
    "amount": (Code.ERP_REJECTED, "price/amount"),
    "quantity": (Code.ERP_REJECTED, "quantity"),
}


def _customer_pointer(path: str) -> tuple[Code, str] | None:
    if path.startswith("addressBook"):
        match = _ADDRESS_PATH.match(path)
        index, field = match.groups() if match else (None, "")
        # Address book lines are written in the request's order (see `outbound.py`).
        address = f"/addresses/{index or 0}"
        return Code.ERP_REJECTED, (
            f"{address}/{_ADDRESS_FIELDS[field]}" if field in _ADDRESS_FIELDS else address
        )
    return _CUSTOMER_FIELDS.get(path)


def _order_pointer(path: str) -> tuple[Code, str] | None:
    match = _LINE_PATH.match(path)
    if match:
        code_and_field = _ORDER_LINE_FIELDS.get(match.group(2))
        if code_and_field is None:
            return Code.ERP_REJECTED, f"/items/{match.group(1)}"
        code, field = code_and_field
        return code, f"/items/{match.group(1)}/{field}"
    return _ORDER_FIELDS.get(path)


_POINTERS: dict[Interaction, Callable[[str], tuple[Code, str] | None]] = {
    Interaction.CUSTOMER_CREATE: _customer_pointer,
    Interaction.SALES_ORDER_CREATE: _order_pointer,
}


def error_details(response: ErpResponse) -> list[dict[str, Any]]:
    """NetSuite's `o:errorDetails`; an error without them is a bad response."""
    body = response.json()
    details = body.get("o:errorDetails") if isinstance(body, dict) else None
    if (
        not isinstance(details, list)
        or not details
        or not all(isinstance(d, dict) for d in details)
    ):
        raise bad_response(f"The ERP answered HTTP {response.status} with an unreadable error.")
    return details


def same_submission(sent: Mapping[str, Any], saved: Mapping[str, Any]) -> bool:
    """Whether a record saved under our externalId is what we are submitting now (a retry),
    judged on the fields that identify a submission: who, where, what and how many."""

    def ref(record: Mapping[str, Any], name: str) -> Any:
        value = record.get(name)
        return value.get("id") if isinstance(value, Mapping) else value

    def lines(record: Mapping[str, Any]) -> list[tuple[Any, Any]]:
        items = (
            record.get("item", {}).get("items", [])
            if isinstance(record.get("item"), Mapping)
            else []
        )
        return [(ref(i, "item"), float(i.get("quantity", 0))) for i in items]

    fields = [n for n in ("entity", "subsidiary", "companyName") if n in sent]
    return all(ref(sent, n) == ref(saved, n) for n in fields) and lines(sent) == lines(saved)


def _details_of(response: ErpResponse, status: int) -> list[dict[str, Any]]:
    """The error details of an answer with `status`; none for another status, or for a body
    that is no NetSuite error document."""
    if response.status != status:
        return []
    try:
        return error_details(response)
    except ErpFailure:
        return []


def is_not_found(response: ErpResponse) -> bool:
    """NetSuite's own not-found: HTTP 404 with an error document whose code is NONEXISTENT_ID.
    A 404 without it (an HTML page, an empty body, `null`) comes from something in front of
    NetSuite, a proxy or a load balancer, and says nothing about the record."""
    return _not_found(_details_of(response, 404))


def _not_found(details: list[dict[str, Any]]) -> bool:
    return any(d.get("o:errorCode") == NOT_FOUND_CODE for d in details)


def is_duplicate_external_id(response: ErpResponse) -> bool:
    return any(
        d.get("o:errorCode") == DUPLICATE_RECORD_CODE or d.get("o:errorPath") == "externalId"
        for d in _details_of(response, 400)
    )


def _governed(response: ErpResponse) -> bool:
    return response.status == 429 or any(
        d.get("o:errorCode") in GOVERNANCE_CODES for d in _details_of(response, 400)
    )


def error_from_response(
    response: ErpResponse,
    interaction: Interaction,
    *,
    write: bool,
    maps: NetSuiteMaps | None = None,
) -> GatewayError:
    """The gateway error for a NetSuite answer that is not a success; with the backend's
    `maps`, its words name legal entities, SKUs, terms and currencies, never internal ids."""
    status = response.status
    if status >= 500:
        # A 503 is a refusal before any work; other server errors may follow a commit.
        return ErpFailure(
            Code.ERP_UNAVAILABLE,
            f"The ERP failed (HTTP {status}).",
            ambiguous=write and status != 503,
        )
    if _governed(response):
        return ErpFailure(
            Code.ERP_UNAVAILABLE,
            "The ERP is refusing requests for now (its concurrency limit); nothing was done.",
            headers={
                "Retry-After": retry_after_delay(response.header("Retry-After"))
                or GOVERNANCE_RETRY_AFTER_S
            },
        )
    if status in (401, 403):
        return ErpFailure(
            Code.ERP_UNAVAILABLE,
            "The ERP refused the gateway's credentials or role; an operator must fix them.",
        )
    if status < 400:
        return bad_response(f"The ERP answered with unexpected HTTP {status}.", ambiguous=write)
    try:
        details = error_details(response)
    except ErpFailure as unreadable:
        return unreadable
    if status == 404 and not _not_found(details):
        return bad_response("The ERP answered 404 without saying the record does not exist.")
    pointer_of = _POINTERS.get(interaction)
    code: Code | None = None
    errors: list[FieldError] = []
    said: list[str] = []
    words: list[str] = []
    for detail in details:
        path = detail.get("o:errorPath")
        path = path if isinstance(path, str) else None
        found = pointer_of(path) if pointer_of and path else None
        message = str(detail.get("detail") or "").strip()
        canonical = (
            canonical_text(message, maps, path, found[1] if found else None) if maps else message
        )
        said.append(message)
        words.append(canonical)
        if found is not None:
            code = code or found[0]
            errors.append(FieldError(found[1], canonical or "Refused by the ERP."))
    erp_message = " ".join(m for m in said if m) or None
    text = " ".join(w for w in words if w) or f"The ERP refused the request (HTTP {status})."
    if status == 404:
        return GatewayError(Code.NOT_FOUND, text, erp_message=erp_message)
    if interaction is Interaction.CANCEL:
        return GatewayError(Code.INVALID_STATE, text, erp_message=erp_message)
    return GatewayError(code or Code.ERP_REJECTED, text, errors, erp_message=erp_message)
