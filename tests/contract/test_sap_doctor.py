"""The SAP adapter's checks of a tenant's set-up (`gateway doctor`), against the simulator as a
tenant with and without the gateway's custom fields."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from erp_simulators.sap import SimOptions, create_app
from gateway.adapters.http import AiohttpTransport, ErpResponse
from gateway.adapters.sap import SapODataAdapter
from gateway.adapters.sap.doctor import diagnose, tenant_checks
from tests.contract.test_sap_adapter import PASSWORD, USER, context, legacy_config
from tests.fake_transport import FakeTransport, SentRequest, json_response
from tests.servers import serve_app
from tests.unit.adapters.sap.samples import sap_error

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


async def test_the_doctor_names_a_service_sap_has_not_activated_with_its_fix() -> None:
    # The writes to a service take their CSRF token there: each service the gateway writes to
    # is one of the services checked.
    options = SimOptions(inactive_services=frozenset({"API_SALES_ORDER_SRV"}))
    with serve_app(create_app(username=USER, password=PASSWORD, options=options)) as url:
        erp = SapODataAdapter("legacy", legacy_config(url), AiohttpTransport(url), USER, PASSWORD)
        try:
            checks = {c.name: c for c in await diagnose(erp, context(), USER, "100")}
        finally:
            await erp.aclose()

    assert checks["logon"].ok
    failing = [
        name for name, check in checks.items() if name.startswith("service ") and not check.ok
    ]
    assert failing == ["service API_SALES_ORDER_SRV"]
    message = checks["service API_SALES_ORDER_SRV"].message
    assert "/IWFND/MED/170" in message and "activate it in /IWFND/MAINT_SERVICE" in message
    assert "SAP_COM_0109" in message


async def test_a_403_of_sap_gateway_without_the_service_is_no_refused_logon() -> None:
    # Some releases answer a service not activated 403 /IWFND/MED/170: SAP took the logon.
    def answer(sent: SentRequest) -> ErpResponse:
        if sent.path.startswith(ODATA + "/API_SALES_ORDER_SRV/"):
            return json_response(403, sap_error(("/IWFND/MED/170", "No service found", "")))
        return ErpResponse(404, {}, b"")

    erp = SapODataAdapter(
        "legacy",
        legacy_config("http://sap.invalid"),
        FakeTransport(responder=answer),
        USER,
        PASSWORD,
    )
    checks = {c.name: c for c in await diagnose(erp, context(), USER, "100")}

    assert checks["logon"].ok
    service = checks["service API_SALES_ORDER_SRV"]
    assert not service.ok and "/IWFND/MAINT_SERVICE" in service.message
    assert "credentials" not in service.message
