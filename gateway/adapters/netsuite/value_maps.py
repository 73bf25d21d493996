"""The NetSuite backend's value maps, both ways: canonical legal entities, payment terms, SKUs and
currencies to subsidiaries, term, item and currency internal ids, and back.

Not the YAML schema (see `gateway.config.backends`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.adapters.netsuite.fields import ref_id
from gateway.adapters.value_maps import (
    CURRENCY,
    UnmappedCodes,
    inverse,
    not_set_up,
    refuse_unknown_skus,
    unknown_terms,
)
from gateway.config.backends import NetSuiteLegalEntity, NetSuiteValueMaps
from gateway.domain.models import OrderItem


@dataclass(frozen=True)
class NetSuiteMaps:
    """The backend's value maps in both directions, compiled once per adapter."""

    legal_entities: Mapping[str, NetSuiteLegalEntity]
    legal_entity_of_subsidiary: Mapping[str, str]
    terms: Mapping[str, str]
    terms_of_id: Mapping[str, str]
    items: Mapping[str, str]
    sku_of_item: Mapping[str, str]
    currencies: Mapping[str, str]
    currency_of_id: Mapping[str, str]
    # Where the answers' codes the maps do not know are reported.
    unmapped: UnmappedCodes = field(default_factory=UnmappedCodes, compare=False)

    @classmethod
    def from_config(
        cls, maps: NetSuiteValueMaps, unmapped: UnmappedCodes | None = None
    ) -> NetSuiteMaps:
        return cls(
            legal_entities=dict(maps.legal_entities),
            legal_entity_of_subsidiary=inverse(
                {le: ids.subsidiary for le, ids in maps.legal_entities.items()}
            ),
            terms=dict(maps.payment_terms),
            terms_of_id=inverse(maps.payment_terms),
            items=dict(maps.skus),
            sku_of_item=inverse(maps.skus),
            currencies=dict(maps.currencies),
            currency_of_id=inverse(maps.currencies),
            unmapped=unmapped or UnmappedCodes(),
        )

    def legal_entity(self, code: str, pointer: str = "/legal_entity") -> NetSuiteLegalEntity:
        ids = self.legal_entities.get(code)
        if ids is None:
            raise not_set_up("Legal entity", code, pointer)
        return ids

    def currency_id(self, code: str, pointer: str = "/currency") -> str:
        currency_id = self.currencies.get(code)
        if currency_id is None:
            raise not_set_up("Currency", code, pointer)
        return currency_id

    def terms_id(self, code: str) -> str:
        terms_id = self.terms.get(code)
        if terms_id is None:
            raise unknown_terms(code, self.terms)
        return terms_id

    def item_ids(self, items: Sequence[OrderItem]) -> list[str]:
        """The item internal id of each order item; unknown products are refused together."""
        refuse_unknown_skus(items, self.items)
        return [self.items[item.product_id] for item in items]

    def currency_code(self, record: Mapping[str, Any], field: str = "currency") -> str | None:
        value = record.get(field)
        currency_id = ref_id(value)
        if currency_id is None:
            return None
        name = value.get("refName") if isinstance(value, dict) else None
        code = self.unmapped.canonical(self.currency_of_id, CURRENCY, currency_id)
        return code or (name if isinstance(name, str) else None)
