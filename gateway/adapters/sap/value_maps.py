"""The SAP backend's value maps, both ways: canonical legal entities, payment terms and SKUs to
company codes, sales areas, term keys and materials, and back.

Not the YAML schema (see `gateway.config.backends`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.adapters.value_maps import UnmappedCodes, inverse, not_set_up
from gateway.config.backends import SapLegalEntity, SapValueMaps


@dataclass(frozen=True)
class SapMaps:
    """The backend's value maps both ways, built once per configuration load."""

    legal_entities: Mapping[str, SapLegalEntity]
    payment_terms: Mapping[str, str]
    skus: Mapping[str, str]
    legal_entity_by_company_code: Mapping[str, str]
    legal_entity_by_sales_org: Mapping[str, str]
    terms_by_key: Mapping[str, str]
    sku_by_material: Mapping[str, str]
    # Where the answers' codes the maps do not know are reported.
    unmapped: UnmappedCodes = field(default_factory=UnmappedCodes, compare=False)

    @classmethod
    def from_config(cls, maps: SapValueMaps, unmapped: UnmappedCodes | None = None) -> SapMaps:
        return cls(
            legal_entities=dict(maps.legal_entities),
            payment_terms=dict(maps.payment_terms),
            skus=dict(maps.skus),
            legal_entity_by_company_code=inverse(
                {le: m.company_code for le, m in maps.legal_entities.items()}
            ),
            legal_entity_by_sales_org=inverse(
                {le: m.sales_organization for le, m in maps.legal_entities.items()}
            ),
            terms_by_key=inverse(maps.payment_terms),
            sku_by_material=inverse(maps.skus),
            unmapped=unmapped or UnmappedCodes(),
        )

    def legal_entity(self, code: str, pointer: str = "/legal_entity") -> SapLegalEntity:
        mapped = self.legal_entities.get(code)
        if mapped is None:
            raise not_set_up("Legal entity", code, pointer)
        return mapped
