"""Copying a customer to another ERP: read where it is present, create it in the target with the
target's value maps under the customer's own gateway reference, bind the new document in the xref.

Idempotent: the target is searched by the gateway reference first, so a second copy (a retried
order, a rerun or resumed migration) finds the first and creates nothing. One copy of a customer
to an ERP at a time, in every gateway process: two at once (two orders, an order and a job) would
both search, find nothing and create it twice, and SAP does not refuse a second business
partner with the same reference. Not the migration job that runs it for a whole legal entity
(see `gateway.ops.migrations`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping

from pydantic import ValidationError

from gateway.adapters.base import ErpCustomer, References
from gateway.domain.errors import Code, ErpFailure, FieldError, GatewayError, business
from gateway.domain.ids import random_hex
from gateway.domain.models import CustomerCreate
from gateway.service.erp_calls import Caller
from gateway.store.base import Binding, ErpDocument, Store, StoreUnavailable, XrefRecord

_LEASE_MARGIN_S = 1.0  # beyond a copy's three ERP calls, for its store round trips
_WAIT_S = 0.05  # how often a copy waiting for another one looks whether it is done


def customer_request(erp: ErpCustomer, record: XrefRecord) -> CustomerCreate:
    """The canonical create request that makes `erp`'s customer again in another ERP."""
    try:
        return CustomerCreate.model_validate(
            {
                "external_ref": erp.external_ref or record.external_ref or record.gateway_id,
                "legal_entity": record.legal_entity,
                "legal_name": erp.legal_name,
                "display_name": erp.display_name,
                "tax_id": erp.tax_id,
                "email": erp.email,
                "currency": erp.currency,
                "payment_terms": erp.payment_terms,
                "credit_limit": erp.credit_limit,
                "addresses": [a.model_dump() for a in erp.addresses],
            },
            strict=False,
        )
    except ValidationError as exc:
        missing = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors()}))
        raise GatewayError(
            Code.ERP_REJECTED,
            f"Customer {record.gateway_id} cannot be copied: its record in {record.backend} "
            f"lacks or has unusable {missing}; complete it there first.",
        ) from None


async def copy_customer(
    call: Caller,
    store: Store,
    record: XrefRecord,
    target: str,
    timeouts: Mapping[str, float],
    deadline: float | None = None,
) -> XrefRecord:
    """`record`'s customer present in `target` too: found there by its gateway reference, or
    created there from where it is present now; the xref bound either way. While another copy
    of it to `target` runs, its outcome is waited for (and taken, if it bound one), until the
    `deadline` (monotonic) if any; a copy holds the customer for its three ERP calls at the
    backends' `timeouts` (`timeout_s`), so one whose process died is taken over after that,
    and after a create whose outcome is unknown, for the time the target takes to commit it:
    a copy then would search, find nothing yet, and create the customer again."""
    if record.document_in(target) is not None:
        return record
    lease_s = timeouts[record.home.backend] + 2 * timeouts[target] + _LEASE_MARGIN_S
    lock, token = f"copy:{record.gateway_id}:{target}", random_hex(16)
    while not await store.acquire_slot(lock, 1, token, lease_s):
        if deadline is not None and time.monotonic() + _WAIT_S >= deadline:
            raise GatewayError(
                Code.ERP_UNAVAILABLE,
                f"Customer {record.gateway_id} is being copied to {target} by another request; "
                "send this one again shortly.",
                headers={"Retry-After": "1"},
            )
        await asyncio.sleep(_WAIT_S)
        copied = await _copied(store, record, target)
        if copied is not None:
            return copied
    held = False
    try:
        # The copy that held it before may have finished between the look and the lock.
        return await _copied(store, record, target) or await _copy(call, store, record, target)
    except ErpFailure as failure:
        if failure.ambiguous:  # the target may yet commit it: the next copy waits for that
            held = True
            with contextlib.suppress(StoreUnavailable):
                await store.acquire_slot(lock, 1, token, timeouts[target] + _LEASE_MARGIN_S)
        raise
    finally:
        if not held:
            with contextlib.suppress(StoreUnavailable):  # else it runs out with its lease
                await store.release_slot(lock, token)


async def _copied(store: Store, record: XrefRecord, target: str) -> XrefRecord | None:
    fresh = await store.get_xref(record.gateway_id)
    return fresh if fresh is not None and fresh.document_in(target) is not None else None


async def _copy(call: Caller, store: Store, record: XrefRecord, target: str) -> XrefRecord:
    refs = References(record.external_ref, record.gateway_ref)
    copied = await call(target, lambda a, c: a.find_customer_by_gateway_ref(refs.gateway_ref, c))
    if copied is None:
        source = record.home
        erp = await call(source.backend, lambda a, c: a.get_customer(source.erp_id, c))
        if erp is None:
            raise GatewayError(
                Code.ERP_BAD_RESPONSE,
                f"Customer {record.gateway_id} is not in {source.backend} any more, though the "
                "gateway bound it there.",
            )
        request = customer_request(erp, record)
        try:
            copied = await call(target, lambda a, c: a.create_customer(request, refs, c))
        except GatewayError as refused:
            raise _copy_refused(refused, record, target) from None
    document = ErpDocument(target, copied.erp_id, copied.document_number)
    (outcome,) = await store.bind_documents([Binding(record.gateway_id, document)])
    if outcome.record is None:
        holder = outcome.taken_by or "nothing"
        raise GatewayError(
            Code.ERP_REJECTED,
            f"Customer {record.gateway_id}'s copy in {target} ({copied.document_number}) is "
            f"bound to {holder} in the gateway; an operator must resolve it.",
        )
    return outcome.record


def _copy_refused(error: GatewayError, record: XrefRecord, target: str) -> GatewayError:
    """The target ERP's refusal of a customer's copy, said of the customer: its pointers are
    the customer's fields (`/legal_name`), which the order (or job) that needed the copy does
    not have; they go under `/customer_id`. A refusal with no field (a technical one) passes
    unchanged."""
    if not error.errors:
        return error
    error.errors = [
        FieldError("/customer_id", f"The customer's {e.pointer.lstrip('/')}: {e.detail}")
        for e in error.errors
    ]
    error.detail = f"Customer {record.gateway_id} cannot be copied to {target}: {error.detail}"
    return error


def not_migrated(
    customer_id: str, legal_entity: str, backend: str, *, quote: bool = False
) -> GatewayError:
    """422 for an order whose customer is absent from the order's ERP, copies being off, or
    for a `quote`, which copies nothing (it creates nothing anywhere)."""
    then = (
        "a quote creates nothing there: its first order copies it, or migrate it first "
        "(gateway migrate)"
        if quote
        else "it must be migrated first (gateway migrate)"
    )
    return business(
        Code.CUSTOMER_NOT_FOUND,
        f"Customer {customer_id} is not yet set up in {backend}, the ERP that now holds "
        f"{legal_entity}'s orders; {then}.",
        FieldError("/customer_id", "Customer not available in the system of record."),
    )
