"""Whether an SAP tenant is set up as the adapter needs it: the logon, each service published,
the key-user custom fields in the services' `$metadata`, and the company codes, sales
organizations and materials of the value maps in SAP's master data. Each check says what it
found and, when it fails, how to fix it.

Not the request path (an operator runs these, `gateway doctor`), nor the value maps' syntax
(`gateway check`). Terms of payment are not checked: no released read service offers them; an
unknown key shows on the first customer created with it (invalid_payment_terms).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.adapters.base import CallContext, DoctorCheck
from gateway.adapters.sap.errors import hub_code
from gateway.adapters.sap.odata import entity_path
from gateway.adapters.sap.services import (
    BILLING_SERVICE,
    BP_SERVICE,
    COMPANY_CODES,
    CREDIT_LIMIT_FIELD,
    DELIVERY_SERVICE,
    GATEWAY_REF_FIELD,
    METADATA,
    PRODUCTS,
    SALES_ORDER_SERVICE,
    SALES_ORGANIZATIONS,
    SIMULATION_SERVICE,
)
from gateway.domain.errors import GatewayError

if TYPE_CHECKING:
    from gateway.adapters.sap.adapter import SapODataAdapter

_ENTITY_TYPE_RE = r'<EntityType\s[^>]*Name="{name}"[^>]*>(.*?)</EntityType>'


TenantCheck = DoctorCheck
# The services the adapter calls (and the master data the checks read), each with what
# publishes it on a tenant: a communication arrangement in the cloud, an activated service
# (transaction /IWFND/MAINT_SERVICE) on premise. A write takes its CSRF token at the service
# written to: these are also the services tokens come from.
_SERVICES = (
    (BP_SERVICE, "customers", "SAP_COM_0008 (Business Partner, Customer and Supplier Integration)"),
    (SALES_ORDER_SERVICE, "sales orders", "SAP_COM_0109 (Sales Order Integration)"),
    (SIMULATION_SERVICE, "quote validation", "SAP_COM_0109 (Sales Order Integration)"),
    (DELIVERY_SERVICE, "shipments", "the outbound delivery integration arrangement"),
    (BILLING_SERVICE, "invoices", "the billing document integration arrangement"),
)


async def diagnose(
    adapter: SapODataAdapter, ctx: CallContext, user: str, sap_client: str
) -> list[DoctorCheck]:
    """Every check, in a stable order; only the logon's when the logon fails."""
    logon = await _logon(adapter, ctx, user, sap_client)
    if not logon.ok:
        return [logon]
    services = [await _service(adapter, s, use, publish, ctx) for s, use, publish in _SERVICES]
    return [logon, *services, *await tenant_checks(adapter, ctx)]


async def _logon(
    adapter: SapODataAdapter, ctx: CallContext, user: str, sap_client: str
) -> DoctorCheck:
    name = "logon"
    try:
        response = await adapter.client.send("GET", SALES_ORDER_SERVICE + "/", ctx)
    except GatewayError as error:
        return DoctorCheck(
            name,
            False,
            f"SAP could not be reached: {error.detail} Fix: check base_url and that the gateway's "
            "host may reach it (proxy, firewall, TLS).",
        )
    if response.status in (401, 403) and hub_code(response) is None:
        # A 403 with SAP Gateway's hub message took the logon: the service is not there (some
        # releases answer /IWFND/MED/170 so), which its own check reports.
        return DoctorCheck(
            name,
            False,
            f"SAP refused user {user} in client {sap_client} (HTTP {response.status}). Fix: check "
            "the credentials' environment variables (the communication user of the gateway's "
            "communication arrangements) and sap_client.",
        )
    if response.status >= 400 and response.status != 404 and hub_code(response) is None:
        return DoctorCheck(name, False, f"SAP answered HTTP {response.status} to the logon.")
    return DoctorCheck(name, True, f"logged on as {user} in client {sap_client}")


async def _service(
    adapter: SapODataAdapter, service: str, use: str, publish: str, ctx: CallContext
) -> DoctorCheck:
    label = service.rsplit("/", 1)[-1]
    name = f"service {label}"
    try:
        response = await adapter.client.send("GET", service + METADATA, ctx)
    except GatewayError as error:
        return DoctorCheck(name, False, f"its $metadata could not be read: {error.detail}")
    if response.status == 200:
        return DoctorCheck(name, True, f"published ({use})")
    code = hub_code(response)
    said = (
        f"not there for the gateway (SAP Gateway answered HTTP {response.status} {code} to its "
        "$metadata)"
        if code
        else f"HTTP {response.status} for its $metadata"
    )
    return DoctorCheck(
        name,
        False,
        f"{said}: the gateway cannot serve {use}. Fix: "
        f"activate it in /IWFND/MAINT_SERVICE (on premise), or publish it for the gateway's "
        f"communication user with {publish} (cloud).",
    )


@dataclass(frozen=True)
class _CustomField:
    field: str
    service: str
    entity_type: str
    purpose: str
    note: str = ""


_CUSTOM_FIELDS = (
    _CustomField(
        GATEWAY_REF_FIELD,
        BP_SERVICE,
        "A_BusinessPartnerType",
        "customers are found by the gateway's reference (retries, migrations)",
    ),
    _CustomField(
        GATEWAY_REF_FIELD,
        SALES_ORDER_SERVICE,
        "A_SalesOrderType",
        "orders are created with, and reconciled by, the gateway's reference",
    ),
    _CustomField(
        CREDIT_LIMIT_FIELD,
        BP_SERVICE,
        "A_BusinessPartnerType",
        "the customer's credit limit is written and read there",
        note=" SAP's own credit check does not read it: SAP Credit Management does (the "
        "business partner's credit segment, transaction UKM_BP); keep the two in step.",
    ),
)


async def tenant_checks(adapter: SapODataAdapter, ctx: CallContext) -> list[TenantCheck]:
    """Every check of the tenant's set-up, in a stable order."""
    ctx = ctx.serving("tenant_checks")
    checks: list[TenantCheck] = []
    metadata: dict[str, str | _Unread] = {}
    for custom in _CUSTOM_FIELDS:
        if custom.service not in metadata:
            metadata[custom.service] = await _metadata(adapter, custom.service, ctx)
        checks.append(_custom_field_check(custom, metadata[custom.service]))
    maps = adapter.maps
    entities = maps.legal_entities
    checks.append(
        await _keys_exist(
            "company codes",
            {e.company_code: f"legal_entities.{le}.company_code" for le, e in entities.items()},
            lambda code: _exists(adapter, COMPANY_CODES, {"CompanyCode": code}, ctx),
            "API_COMPANYCODE_SRV",
        )
    )
    checks.append(
        await _keys_exist(
            "sales organizations",
            {
                e.sales_organization: f"legal_entities.{le}.sales_organization"
                for le, e in entities.items()
            },
            lambda org: _exists(adapter, SALES_ORGANIZATIONS, {"SalesOrganization": org}, ctx),
            "API_SALESORGANIZATION_SRV",
        )
    )
    checks.append(
        await _keys_exist(
            "materials",
            {material: f"skus.{sku}" for sku, material in maps.skus.items()},
            lambda material: _exists(adapter, PRODUCTS, {"Product": material}, ctx),
            "API_PRODUCT_SRV",
        )
    )
    return checks


@dataclass(frozen=True)
class _Unread:
    reason: str


async def _metadata(adapter: SapODataAdapter, service: str, ctx: CallContext) -> str | _Unread:
    """The service's `$metadata` document; read as text, never parsed as XML (a document
    from outside is searched, not expanded)."""
    try:
        response = await adapter.client.send("GET", service + METADATA, ctx)
    except GatewayError as error:
        return _Unread(error.detail)
    if response.status != 200:
        return _Unread(f"HTTP {response.status}")
    return response.body.decode("utf-8", errors="replace")


def _custom_field_check(custom: _CustomField, metadata: str | _Unread) -> TenantCheck:
    name = f"custom field {custom.field} on {custom.entity_type.removesuffix('Type')}"
    service = custom.service.rsplit("/", 1)[-1]
    if isinstance(metadata, _Unread):
        return TenantCheck(name, False, f"{service}/$metadata could not be read: {metadata.reason}")
    match = re.search(
        _ENTITY_TYPE_RE.format(name=re.escape(custom.entity_type)), metadata, re.DOTALL
    )
    found = match is not None and f'Name="{custom.field}"' in match[1]
    if found:
        return TenantCheck(name, True, f"{service} declares it.{custom.note}")
    return TenantCheck(
        name,
        False,
        f"{service} does not declare it, and {custom.purpose}. Fix: create the custom field "
        f"{custom.field} (Custom Fields app, key-user extensibility) and enable it for the "
        f"{service} API, then publish it.{custom.note}",
    )


async def _exists(
    adapter: SapODataAdapter, entity_set: str, key: dict[str, str], ctx: CallContext
) -> bool:
    return await adapter.client.read(entity_path(entity_set, **key), {}, ctx) is not None


async def _keys_exist(
    name: str,
    keys: dict[str, str],
    exists: Callable[[str], Awaitable[bool]],
    service: str,
) -> TenantCheck:
    """Whether each key of a value map exists in SAP; the missing ones named with the value
    map entry that uses them."""
    try:
        missing = [key for key in keys if not await exists(key)]
    except GatewayError as error:
        return TenantCheck(name, False, f"{service} could not be read: {error.detail}")
    if not missing:
        return TenantCheck(name, True, f"all {len(keys)} exist in SAP ({service})")
    return TenantCheck(
        name,
        False,
        f"{_listed(missing)} not found in SAP ({service}). Fix: create them in SAP, or correct "
        f"value_maps {_listed(keys[key] for key in missing)} in the backend's file.",
    )


def _listed(items: Iterable[str]) -> str:
    return ", ".join(items)
