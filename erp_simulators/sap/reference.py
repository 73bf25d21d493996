"""API_COMPANYCODE_SRV, API_SALESORGANIZATION_SRV and API_PRODUCT_SRV: the customizing and
master data the orders refer to, read-only, so that a client can check its value maps.

Not the customizing itself (see `catalog`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from erp_simulators.sap import catalog, operations
from erp_simulators.sap.odata import EntitySet, Node, key_text

COMPANY_CODE_SERVICE = "API_COMPANYCODE_SRV"
SALES_ORGANIZATION_SERVICE = "API_SALESORGANIZATION_SRV"
PRODUCT_SERVICE = "API_PRODUCT_SRV"
_COMPANY_NAMES = {
    "1710": "Company Code 1710",
    "1720": "Company Code 1720",
    "1010": "Company Code 1010",
    "1510": "Company Code 1510",
    "1410": "Company Code 1410",
    "2810": "Company Code 2810",
    "2910": "Company Code 2910",
    "4610": "Company Code 4610",
}


def _read_only(key: str, rows: Mapping[str, Any], node: Callable[[Any], Node]) -> EntitySet:
    def all_rows() -> Iterable[Any]:
        return rows.values()

    return EntitySet(
        keys=(key,),
        read_operation=operations.AUTH,  # master data: perturbed like the session, not a record
        rows=all_rows,
        lookup=lambda k: rows.get(k[key]),
        node=node,
    )


def _company_code(code: catalog.CompanyCode) -> Node:
    return Node(
        path="A_CompanyCode" + key_text(CompanyCode=code.code),
        type_name=COMPANY_CODE_SERVICE + ".A_CompanyCodeType",
        properties={
            "CompanyCode": code.code,
            "CompanyCodeName": _COMPANY_NAMES.get(code.code, code.code),
            "Country": code.country,
            "Currency": code.currency,
        },
    )


def _sales_organization(code: catalog.CompanyCode) -> Node:
    return Node(
        path="A_SalesOrganization" + key_text(SalesOrganization=code.code),
        type_name=SALES_ORGANIZATION_SERVICE + ".A_SalesOrganizationType",
        properties={
            "SalesOrganization": code.code,
            "SalesOrganizationCurrency": code.currency,
            "CompanyCode": code.code,
        },
    )


def _product(material: catalog.Material) -> Node:
    return Node(
        path="A_Product" + key_text(Product=material.number),
        type_name=PRODUCT_SERVICE + ".A_ProductType",
        properties={
            "Product": material.number,
            "ProductType": "SERV" if material.number.startswith("SV-") else "FERT",
            "BaseUnit": material.unit,
            "IsMarkedForDeletion": False,
        },
    )


def services() -> dict[str, dict[str, EntitySet]]:
    return {
        COMPANY_CODE_SERVICE: {
            "A_CompanyCode": _read_only("CompanyCode", catalog.COMPANY_CODES, _company_code)
        },
        SALES_ORGANIZATION_SERVICE: {
            "A_SalesOrganization": _read_only(
                "SalesOrganization", catalog.SALES_ORGANIZATIONS, _sales_organization
            )
        },
        PRODUCT_SERVICE: {"A_Product": _read_only("Product", catalog.MATERIALS, _product)},
    }
