"""What every adapter's value maps share: refusing a canonical code the maps lack before
anything is sent (in one wording for every ERP), reading a canonical -> ERP map the other way,
and reporting the codes an ERP's answer names that the maps cannot read.

Not any ERP's maps (see `sap/value_maps.py`, `netsuite/value_maps.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from gateway.domain.errors import Code, FieldError, RefusedBeforeSending
from gateway.domain.listing import some_of
from gateway.domain.models import OrderItem

log = logging.getLogger("gateway.adapters")

# The kinds of code an ERP's answer may name that the gateway cannot map (the metric's label).
SKU = "sku"
PAYMENT_TERMS = "payment_terms"
LEGAL_ENTITY = "legal_entity"
CURRENCY = "currency"
CREDIT_STATUS = "credit_status"

# What the runtime counts an unmapped code with: its kind (the backend is the adapter's).
CountUnmapped = Callable[[str], None]

# Codes remembered as already logged; past this many the memory starts again (an ERP with
# thousands of unmapped materials logs each again, rather than the process growing).
_REMEMBERED = 1024


def not_set_up(what: str, code: str, pointer: str) -> RefusedBeforeSending:
    """422 erp_rejected at `pointer`: `what` ("Legal entity", "Currency") `code` has no entry in
    the backend's value maps. Said of "the ERP", as every refusal is, never which one nor in its
    own words (a subsidiary, a company code): the client cannot act on those."""
    text = not_set_up_text(what, code)
    return RefusedBeforeSending(Code.ERP_REJECTED, text, [FieldError(pointer, text)])


def not_set_up_text(what: str, code: str) -> str:
    """The words of a code the ERP is not set up for, whether the value maps lack it or the ERP
    itself refused it (SAP's currency not in its table TCURC)."""
    return f"{what} {code} is not set up in the ERP."


def unknown_terms(code: str, terms: Mapping[str, str]) -> RefusedBeforeSending:
    """422 invalid_payment_terms: `code` is not among the canonical `terms` the maps hold."""
    known = some_of(terms)
    return RefusedBeforeSending(
        Code.INVALID_PAYMENT_TERMS,
        f"Payment terms {code} are not known; use one of {known}.",
        [FieldError("/payment_terms", f"Unknown payment terms; use one of {known}.")],
    )


def refuse_unknown_skus(items: Sequence[OrderItem], skus: Mapping[str, str]) -> None:
    """Raises 422 unknown_sku, a pointer at each line whose product `skus` lacks, all at once."""
    unknown = [(i, item.product_id) for i, item in enumerate(items) if item.product_id not in skus]
    if unknown:
        raise unknown_skus(unknown)


def unknown_skus(lines: Sequence[tuple[int, str]]) -> RefusedBeforeSending:
    """422 unknown_sku for these (line index, SKU) of an order: one field error per line."""
    names = ", ".join(dict.fromkeys(sku for _, sku in lines))
    return RefusedBeforeSending(
        Code.UNKNOWN_SKU,
        f"Unknown product(s): {names}.",
        [FieldError(f"/items/{i}/product_id", f"Unknown SKU {sku}.") for i, sku in lines],
    )


def inverse(mapping: Mapping[str, str]) -> dict[str, str]:
    """ERP key -> canonical code; where two canonical codes share a key, the first listed wins."""
    reverse: dict[str, str] = {}
    for canonical, key in mapping.items():
        reverse.setdefault(key, canonical)
    return reverse


class UnmappedCodes:
    """One backend's codes that its value maps do not know, met in the ERP's answers (a material
    set up in the ERP by hand, a term key nobody mapped): each logged as a warning the first time,
    and every one counted through `count(kind)` (the runtime's metric), so that an answer read
    with a fallback (the ERP's own key, or none) is never read in silence."""

    __slots__ = ("_count", "_logged", "backend")

    def __init__(self, backend: str = "", count: CountUnmapped | None = None) -> None:
        self.backend = backend
        self._count = count
        self._logged: set[tuple[str, str]] = set()

    def canonical(self, reverse: Mapping[str, str], kind: str, key: str) -> str | None:
        """The canonical code `reverse` maps the ERP's `key` to; None, reported, where it has
        none (an empty key is no code: None, not reported)."""
        if not key:
            return None
        code = reverse.get(key)
        if code is None:
            self.report(kind, key)
        return code

    def report(self, kind: str, key: str) -> None:
        """The ERP named `key`, of `kind`, and the gateway cannot map it."""
        if self._count is not None:
            self._count(kind)
        if (kind, key) in self._logged:
            return
        if len(self._logged) >= _REMEMBERED:
            self._logged.clear()
        self._logged.add((kind, key))
        log.warning(
            "ERP code not in the value maps",
            extra={"backend": self.backend, "kind": kind, "erp_code": key},
        )
