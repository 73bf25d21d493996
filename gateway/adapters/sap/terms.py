"""SAP's messages in canonical terms: the materials, company codes, sales organizations (and
areas) and payment-term keys an SAP text names, told as the SKUs, legal entities and payment
terms of the backend's value maps, so that a CRM user reads what they know.

Not the refusal's code or pointers (see `errors.py`); keys the value maps do not know are left
as SAP wrote them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.adapters.sap.value_maps import SapMaps

_COMPANY_CODE_RE = re.compile(r"\bcompany code (\w+)", re.IGNORECASE)
_SALES_ORG_RE = re.compile(r"\bsales organi[sz]ation (\w+)", re.IGNORECASE)
_SALES_AREA_RE = re.compile(r"\bsales area (\w+)/\w+/\w+", re.IGNORECASE)
_TERMS_RE = re.compile(r"\b(terms of payment|payment terms) (\w+)", re.IGNORECASE)


@dataclass(frozen=True)
class SapTerms:
    """The reverse value maps, compiled once per configuration load for `canonical_text`."""

    maps: SapMaps
    _materials: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Longest first, so that one material number never matches inside another; "material"
        # before it (any case) becomes "product".
        keys = sorted(self.maps.sku_by_material, key=len, reverse=True)
        alternatives = "|".join(map(re.escape, keys))
        pattern = (
            re.compile(rf"(?:\b((?i:material))\s+)?(?<![\w-])({alternatives})(?![\w-])")
            if keys
            else None
        )
        object.__setattr__(self, "_materials", pattern)

    def canonical_text(self, text: str) -> str:
        """`text` with every key the value maps know replaced by its canonical code."""
        maps = self.maps
        text = _COMPANY_CODE_RE.sub(
            lambda m: _entity(maps.legal_entity_by_company_code.get(m[1]), m[0]), text
        )
        text = _SALES_AREA_RE.sub(
            lambda m: _entity(maps.legal_entity_by_sales_org.get(m[1]), m[0]), text
        )
        text = _SALES_ORG_RE.sub(
            lambda m: _entity(maps.legal_entity_by_sales_org.get(m[1]), m[0]), text
        )
        text = _TERMS_RE.sub(lambda m: _terms(maps.terms_by_key.get(m[2]), m[0]), text)
        if self._materials is None:
            return text
        return self._materials.sub(lambda m: _product(m, maps), text)


def _entity(legal_entity: str | None, original: str) -> str:
    return _cased(f"legal entity {legal_entity}", original) if legal_entity else original


def _terms(canonical: str | None, original: str) -> str:
    return _cased(f"payment terms {canonical}", original) if canonical else original


def _cased(phrase: str, original: str) -> str:
    """`phrase` capitalized as the words it replaces were (at a sentence's start, say)."""
    return phrase[0].upper() + phrase[1:] if original[0].isupper() else phrase


def _product(match: re.Match[str], maps: SapMaps) -> str:
    sku = maps.sku_by_material[match[2]]
    if match[1] is None:
        return sku
    return ("Product " if match[1][0].isupper() else "product ") + sku
