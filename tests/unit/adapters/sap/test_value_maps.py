"""The SAP value maps read both ways."""

from __future__ import annotations

from tests.unit.adapters.sap.samples import MAPS


def test_reverse_maps_translate_sap_keys_back_to_canonical_codes() -> None:
    assert MAPS.legal_entity_by_company_code == {"1710": "US01", "1010": "DE01"}
    assert MAPS.terms_by_key == {"NT15": "NET15", "NT30": "NET30"}
    assert MAPS.sku_by_material == {"FG-WIDGET1": "WIDGET-1", "FG-GADGET2": "GADGET-2"}
