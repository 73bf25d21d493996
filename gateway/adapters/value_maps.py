"""What every adapter's value maps share: reading a canonical -> ERP map the other way, and
reporting the codes an ERP's answer names that the maps cannot read.

Not any ERP's maps (see `sap/value_maps.py`, `netsuite/value_maps.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

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
