"""The SAP adapter's checks of a tenant's set-up (`gateway doctor`), against the simulator as a
tenant with and without the gateway's custom fields."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from erp_simulators.sap import SimOptions, create_app
from gateway.adapters.http import AiohttpTransport
from gateway.adapters.sap import SapODataAdapter
from gateway.adapters.sap.doctor import tenant_checks
from tests.contract.test_sap_adapter import PASSWORD, USER, context, legacy_config
from tests.servers import serve_app

ODATA = "/sap/opu/odata/sap"


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve_app(create_app()) as url:
        yield url


@pytest.fixture
async def adapter_on(sim_url: str) -> AsyncIterator[SapODataAdapter]:
    erp = SapODataAdapter(
        "legacy", legacy_config(sim_url), AiohttpTransport(sim_url), USER, PASSWORD
    )
    yield erp
    await erp.aclose()


async def test_the_doctor_finds_a_tenant_set_up_as_the_adapter_needs(
    adapter_on: SapODataAdapter,
) -> None:
    checks = await tenant_checks(adapter_on, context())

    assert [(c.name, c.ok) for c in checks] == [
        ("custom field YY1_GatewayRef_SDH on A_BusinessPartner", True),
        ("custom field YY1_GatewayRef_SDH on A_SalesOrder", True),
        ("custom field YY1_CreditLimit_bus on A_BusinessPartner", True),
        ("company codes", True),
        ("sales organizations", True),
        ("materials", True),
    ]
    assert "Credit Management" in checks[2].message


async def test_the_doctor_names_the_missing_custom_fields_and_unknown_keys_with_a_fix() -> None:
    with serve_app(create_app(options=SimOptions(custom_fields=False))) as url:
        config = legacy_config(
            url,
            skus={"GIZMO-3": "FG-GIZMO3"},
            legal_entities={"XX01": {"company_code": "9999", "sales_organization": "1010"}},
        )
        erp = SapODataAdapter("legacy", config, AiohttpTransport(url), USER, PASSWORD)
        try:
            checks = {c.name: c for c in await tenant_checks(erp, context())}
        finally:
            await erp.aclose()

    gateway_ref = checks["custom field YY1_GatewayRef_SDH on A_SalesOrder"]
    assert not gateway_ref.ok and "Custom Fields" in gateway_ref.message
    assert not checks["custom field YY1_CreditLimit_bus on A_BusinessPartner"].ok
    assert not checks["company codes"].ok
    assert "9999" in checks["company codes"].message
    assert "legal_entities.XX01.company_code" in checks["company codes"].message
    assert checks["sales organizations"].ok
    assert not checks["materials"].ok and "skus.GIZMO-3" in checks["materials"].message


def test_a_tenant_without_the_custom_fields_refuses_a_create_at_the_custom_field() -> None:
    # What the doctor warns of: without the fields, SAP refuses every customer create.
    unique = uuid.uuid4().hex[:6]
    with (
        serve_app(create_app(options=SimOptions(custom_fields=False))) as url,
        httpx.Client(base_url=url, auth=(USER, PASSWORD)) as client,
    ):
        token = client.get(
            ODATA + "/API_BUSINESS_PARTNER/", headers={"X-CSRF-Token": "Fetch"}
        ).headers["x-csrf-token"]
        response = client.post(
            ODATA + "/API_BUSINESS_PARTNER/A_BusinessPartner",
            json={"BusinessPartnerCategory": "2", "YY1_GatewayRef_SDH": "gw-" + unique},
            headers={"x-csrf-token": token},
        )

    assert response.status_code == 400
    assert response.json()["error"]["innererror"]["errordetails"][0]["target"] == (
        "YY1_GatewayRef_SDH"
    )
