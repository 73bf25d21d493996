"""The NetSuite backend's value maps, both ways: canonical legal entities, payment terms, SKUs and
currencies to subsidiaries, term, item and currency internal ids, and back (a currency the maps
lack, by the ISO code NetSuite's currency record gives it, see `currencies.py`).

Not the YAML schema (see `gateway.config.backends`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.adapters.netsuite.currencies import NOT_ISO, CurrencyCodes
from gateway.adapters.netsuite.fields import bad_response, ref_id
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
    # The ISO codes of the currencies the maps lack, as NetSuite's currency records say.
    read_currencies: CurrencyCodes = field(default_factory=CurrencyCodes, compare=False)

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

    def currencies_to_read(self, records: Iterable[Mapping[str, Any]]) -> list[str]:
        """The currency internal ids `records` name that neither the maps nor an earlier read
        of NetSuite's currency records know: to read before the records are mapped."""
        unread: list[str] = []
        for record in records:
            i = ref_id(record.get("currency"))
            if not i or i in unread or i in self.currency_of_id:
                continue
            if self.read_currencies.get(i) is None:
                unread.append(i)
        return unread

    def currency_code(self, record: Mapping[str, Any], field: str = "currency") -> str | None:
        """The ISO code of the record's currency (None without one): from the maps, else
        (reported as unmapped) as NetSuite's currency record gave it, read beforehand through
        `currencies_to_read`. Never NetSuite's name for it (`refName`), which is no ISO code."""
        currency_id = ref_id(record.get(field))
        if currency_id is None:
            return None
        code = self.unmapped.canonical(self.currency_of_id, CURRENCY, currency_id)
        code = code or self.read_currencies.get(currency_id)
        if code is None:
            raise bad_response(NOT_ISO)
        return code
