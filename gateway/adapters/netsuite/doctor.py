"""Checks of a NetSuite account before the gateway relies on it (for `gateway doctor`): the
login works, the record types answer, the custom fields exist, and every value map's internal
id names a record of the right kind. Each check says how to fix what fails.

Not the adapter's operations (see `adapter.py`); read-only calls through its client.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.adapters.base import CallContext, DoctorCheck
from gateway.adapters.http import UNREACHABLE
from gateway.adapters.netsuite.client import NetSuiteClient
from gateway.adapters.netsuite.credentials import ClientCredentials, NetSuiteCredentials
from gateway.adapters.netsuite.fields import ref_id
from gateway.adapters.netsuite.records import (
    CREDIT_HOLD_FIELD,
    CURRENCY,
    CUSTOMER,
    INVOICE,
    ITEM_FULFILLMENT,
    ITEM_RECORD_TYPES,
    SALES_ORDER,
    SALES_TAX_ITEM,
    SUBSIDIARY,
    TERM,
    metadata_path,
    record_path,
)
from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.domain.errors import GatewayError

SCHEMA_JSON = {"Accept": "application/schema+json"}
PARALLEL_CHECKS = 4  # stays well under an account's concurrency limit


Check = DoctorCheck


# The record types the adapter reads or writes, and the role permission each needs.
RECORD_PERMISSIONS = {
    CUSTOMER: "Lists > Customers",
    SALES_ORDER: "Transactions > Sales Order",
    ITEM_FULFILLMENT: "Transactions > Item Fulfillment",
    INVOICE: "Transactions > Invoice",
    SUBSIDIARY: "Lists > Subsidiaries",
    TERM: "Setup > Accounting Lists",
    CURRENCY: "Lists > Currency",
    SALES_TAX_ITEM: "Lists > Tax Records",
}
# Custom fields the adapter relies on: record type -> field id -> how to create it, and what
# the gateway cannot tell without it.
CUSTOM_FIELDS = {
    SALES_ORDER: {
        CREDIT_HOLD_FIELD: (
            "create a Transaction Body Field with ID custbody_credit_hold (Check Box), applied "
            "to Sales, set when an order is held for credit (Customization > Lists, Records, & "
            "Fields > Transaction Body Fields > New); without it an order held for credit "
            "shows as accepted, not on_hold"
        )
    }
}


def _login_fix(credentials: NetSuiteCredentials) -> str:
    if isinstance(credentials, ClientCredentials):
        return (
            f"check the client ID ({credentials.client_id}) and that certificate "
            f"{credentials.certificate_id} is mapped to that integration, unexpired, for a role "
            "with the REST Web Services permission (Setup > Integration > OAuth 2.0 Client "
            f"Credentials (M2M) Setup), its key signing {credentials.algorithm}; the "
            "integration must allow the client credentials grant and the scopes asked"
        )
    return (
        f"check the account ID ({credentials.account_id}, the realm), the integration's "
        f"consumer key and secret and access token {credentials.token_id} and its secret "
        "(Setup > Users/Roles > Access Tokens), that token-based authentication is enabled "
        "for the integration, and this machine's clock"
    )


def _who(credentials: NetSuiteCredentials) -> str:
    if isinstance(credentials, ClientCredentials):
        return (
            f"integration {credentials.client_id} with certificate {credentials.certificate_id} "
            f"({credentials.algorithm})"
        )
    return f"access token {credentials.token_id} in account {credentials.account_id} (TBA)"


async def _status(client: NetSuiteClient, path: str, ctx: CallContext) -> int:
    return (await client.send("GET", path, ctx, params={"limit": "1"})).status


async def _login(
    client: NetSuiteClient, credentials: NetSuiteCredentials, ctx: CallContext
) -> Check:
    try:
        status = await _status(client, record_path(SUBSIDIARY), ctx)
    except GatewayError as failure:
        if failure.detail == UNREACHABLE:
            return Check(
                "login",
                False,
                "NetSuite could not be reached. Fix: check base_url (your account's "
                "<account>.suitetalk.api.netsuite.com) and that this host may reach it.",
            )
        return Check("login", False, f"{failure.detail} Fix: {_login_fix(credentials)}.")
    if status in (401, 403):
        return Check(
            "login",
            False,
            f"NetSuite refused the login (HTTP {status}). Fix: {_login_fix(credentials)}.",
        )
    if status != 200:
        return Check("login", False, f"NetSuite answered HTTP {status} to a list of subsidiaries.")
    return Check("login", True, f"logged in as {_who(credentials)}")


async def _record_type(client: NetSuiteClient, record_type: str, ctx: CallContext) -> Check:
    name = f"record type {record_type}"
    try:
        status = await _status(client, record_path(record_type), ctx)
    except GatewayError as failure:
        return Check(name, False, failure.detail)
    if status == 200:
        return Check(name, True, "listed")
    return Check(
        name,
        False,
        f"NetSuite answered HTTP {status}. Fix: give the integration's role the "
        f"{RECORD_PERMISSIONS[record_type]} permission (View, or Create for customers and "
        "sales orders).",
    )


async def _custom_fields(client: NetSuiteClient, ctx: CallContext) -> list[Check]:
    checks = []
    for record_type, fields in CUSTOM_FIELDS.items():
        try:
            response = await client.send("GET", metadata_path(record_type), ctx, accept=SCHEMA_JSON)
            body = response.json() if response.status == 200 else None
            properties = body.get("properties") if isinstance(body, dict) else None
        except GatewayError:
            properties = None
        for field, fix in fields.items():
            name = f"custom field {record_type}.{field}"
            if not isinstance(properties, dict):
                checks.append(Check(name, False, "The metadata catalog did not answer."))
            elif field in properties:
                checks.append(Check(name, True, "present"))
            else:
                checks.append(Check(name, False, f"Missing. Fix: {fix}."))
    return checks


async def _first_record(
    client: NetSuiteClient, record_types: tuple[str, ...], key: str, ctx: CallContext
) -> tuple[str, dict[str, Any]] | None:
    """The record with internal id `key` of the first of `record_types` that has one."""
    for record_type in record_types:
        try:
            record = await client.read(record_type, key, ctx)
        except GatewayError:
            continue  # a record type this account does not have
        if record is not None:
            return record_type, record
    return None


def _value_map_checks(maps: NetSuiteMaps) -> list[tuple[str, tuple[str, ...], str, Any]]:
    """(check name, record types, internal id, what the record must show) per map entry."""
    entries: list[tuple[str, tuple[str, ...], str, Any]] = []
    for code, legal in maps.legal_entities.items():
        entries.append(
            (f"value map legal_entities.{code}", (SUBSIDIARY,), legal.subsidiary, legal.currency)
        )
    for code, terms_id in maps.terms.items():
        entries.append((f"value map payment_terms.{code}", (TERM,), terms_id, None))
    for code, currency_id in maps.currencies.items():
        entries.append((f"value map currencies.{code}", (CURRENCY,), currency_id, code))
    for sku, item_id in maps.items.items():
        entries.append((f"value map skus.{sku}", ITEM_RECORD_TYPES, item_id, None))
    return entries


def _value_map_verdict(
    name: str,
    record_types: tuple[str, ...],
    key: str,
    expected: Any,
    found: tuple[str, dict[str, Any]] | None,
) -> Check:
    if found is None:
        return Check(
            name,
            False,
            f"NetSuite has no {' or '.join(record_types)} with internal id {key}. Fix: put the "
            "record's internal id in the backend's value_maps (NetSuite lists them with Home > "
            "Set Preferences > Show Internal IDs), or create the record.",
        )
    kind, record = found
    if record_types == (SUBSIDIARY,) and ref_id(record.get("currency")) != expected:
        return Check(
            name,
            False,
            f"Subsidiary {key} trades in currency {ref_id(record.get('currency'))}, not "
            f"{expected}. Fix: the legal entity's `currency` in value_maps.",
        )
    if record_types == (CURRENCY,) and record.get("symbol") != expected:
        return Check(
            name,
            False,
            f"Currency {key} is {record.get('symbol')}, not {expected}. Fix: the currency's "
            "internal id in value_maps.",
        )
    return Check(name, True, f"{kind} {key} found")


async def diagnose(
    client: NetSuiteClient,
    maps: NetSuiteMaps,
    credentials: NetSuiteCredentials,
    ctx: CallContext,
) -> list[Check]:
    """Every check, in a stable order; only the login's when the login fails."""
    login = await _login(client, credentials, ctx)
    if not login.ok:
        return [login]
    gate = asyncio.Semaphore(PARALLEL_CHECKS)

    async def limited(check: Callable[[], Awaitable[Check]]) -> Check:
        async with gate:
            return await check()

    async def value_map(entry: tuple[str, tuple[str, ...], str, Any]) -> Check:
        name, record_types, key, expected = entry
        found = await _first_record(client, record_types, key, ctx)
        return _value_map_verdict(name, record_types, key, expected, found)

    record_types = [
        limited(functools.partial(_record_type, client, t, ctx)) for t in RECORD_PERMISSIONS
    ]
    values = [limited(functools.partial(value_map, e)) for e in _value_map_checks(maps)]
    listed = await asyncio.gather(*record_types)
    custom = await _custom_fields(client, ctx)
    mapped = await asyncio.gather(*values)
    return [login, *listed, *custom, *mapped]
