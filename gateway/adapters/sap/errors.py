"""SAP refusals to canonical problems: the error envelope's messages to codes and pointers into
the client's request, and HTTP failures to technical problems.

Not successful answers (see `inbound.py`) nor unreadable ones (`gateway.adapters.answers`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gateway.adapters.base import ErpNotice
from gateway.adapters.http import ErpResponse, retry_after_delay
from gateway.adapters.sap.odata import SapAnswerError
from gateway.adapters.sap.services import CREDIT_LIMIT_FIELD, ITEM_STEP, NAME_FIELDS
from gateway.adapters.sap.terms import SapTerms
from gateway.adapters.value_maps import not_set_up_text
from gateway.domain.errors import Code, ErpFailure, FieldError, GatewayError

_ITEM_TARGET_RE = re.compile(r"to_Item\((?:SalesOrderItem=)?'?(\d+)'?\)")
_KEY_SUFFIX_RE = re.compile(r"\(.*\)$")
# A T100 message is `<message class>/<number>` (V1/392, /IWBEP/CM_MGW_RT/020); any other detail
# code names an exception class of the chain SAP Gateway lists after the messages.
_T100_RE = re.compile(r"^.+/\d{3}$")
# The framework's own exceptions, which wrap the application's: their text ("An exception was
# raised.") says nothing to a user.
# SAP Gateway's hub (the framework in front of the services): its messages are about the service
# called (found, activated, routed to a system), never about a record.
_HUB_MESSAGES = "/IWFND/"
_FRAMEWORK_EXCEPTIONS = frozenset({"/IWBEP/CX_MGW_BUSI_EXCEPTION", "/IWBEP/CX_MGW_TECH_EXCEPTION"})


class Subject(StrEnum):
    """What the refused request was, so that SAP's targets become pointers into it."""

    CUSTOMER = "customer"
    SALES_ORDER = "sales_order"  # also a quote: the same fields
    CANCEL = "cancel"  # no request body: nothing to point at
    READ = "read"


# SAP message numbers (class/number) the ERP uses for refusals a CRM user can fix.
SAP_MESSAGE_CODES: dict[str, Code] = {
    "V1/392": Code.UNKNOWN_SKU,  # material does not exist
    "V1/841": Code.PRICE_MISMATCH,  # customer expected price differs from the net price
    "CVI_API/012": Code.TAX_ID_REQUIRED,
    "CVI_API/011": Code.INVALID_PAYMENT_TERMS,
    "V1/212": Code.INVALID_PAYMENT_TERMS,
    "V1/302": Code.CUSTOMER_NOT_FOUND,  # sold-to party does not exist
    "V1/324": Code.CUSTOMER_LEGAL_ENTITY_MISMATCH,  # sold-to not in the order's sales area
    "V1/446": Code.INVALID_STATE,  # subsequent documents exist (delivered, billed)
}

# SAP messages that a code is not defined in its customizing (a currency not in table TCURC), and
# where their text names it: told in the words of a code the value maps lack (`not_set_up_text`),
# as the other ERP's adapter refuses one, since to the user they are the same fact.
_CURRENCY_NAMED = re.compile(r"\b(?i:currency) '?([A-Z]{3})\b'?")
_NOT_DEFINED: dict[str, tuple[str, re.Pattern[str]]] = {
    "V1/220": ("Currency", _CURRENCY_NAMED),  # API_SALES_ORDER_SRV
    "CVI_API/005": ("Currency", _CURRENCY_NAMED),  # API_BUSINESS_PARTNER
}


# SAP's error targets do not say which address; the billing one is the partner's standard address.
BILLING_ADDRESS = "/addresses/0"
_CUSTOMER_POINTERS = {
    **dict.fromkeys(NAME_FIELDS, "/legal_name"),
    "SearchTerm1": "/display_name",
    "BusinessPartnerIDByExtSystem": "/external_ref",
    CREDIT_LIMIT_FIELD: "/credit_limit",
    "BPTaxNumber": "/tax_id",
    "BPTaxType": "/tax_id",
    "EmailAddress": "/email",
    "StreetName": BILLING_ADDRESS + "/line1",
    "StreetSuffixName": BILLING_ADDRESS + "/line2",
    "CityName": BILLING_ADDRESS + "/city",
    "PostalCode": BILLING_ADDRESS + "/postal_code",
    "Region": BILLING_ADDRESS + "/region",
    "Country": BILLING_ADDRESS + "/country",
    "PaymentTerms": "/payment_terms",
    "CustomerPaymentTerms": "/payment_terms",
    "CompanyCode": "/legal_entity",
    "SalesOrganization": "/legal_entity",
    "DistributionChannel": "/legal_entity",
    "Division": "/legal_entity",
    "Currency": "/currency",
}


_ORDER_POINTERS = {
    "SoldToParty": "/customer_id",
    "SalesOrderType": "/legal_entity",
    "SalesOrganization": "/legal_entity",
    "DistributionChannel": "/legal_entity",
    "OrganizationDivision": "/legal_entity",
    "TransactionCurrency": "/currency",
    "RequestedDeliveryDate": "/requested_delivery_date",
    "PurchaseOrderByCustomer": "/external_ref",
    "CustomerPaymentTerms": "/customer_id",  # the order takes the customer's terms
}


_ITEM_FIELDS = {
    "Material": "product_id",
    "RequestedQuantity": "quantity",
    "RequestedQuantityUnit": "quantity",
    "ConditionRateValue": "price/amount",
}


_DEFAULT_POINTERS = {
    Code.TAX_ID_REQUIRED: "/tax_id",
    Code.INVALID_PAYMENT_TERMS: "/payment_terms",
    Code.CUSTOMER_NOT_FOUND: "/customer_id",
    Code.CUSTOMER_LEGAL_ENTITY_MISMATCH: "/customer_id",
}


@dataclass(frozen=True)
class SapMessage:
    code: str
    message: str
    target: str


def sap_messages(body: Any) -> list[SapMessage]:
    """The error details of an SAP error envelope (the top-level message if there are none)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        raise SapAnswerError("not an SAP error envelope")
    message = error.get("message")
    text = message.get("value") if isinstance(message, dict) else message
    top = SapMessage(str(error.get("code", "")), str(text or "The ERP refused the request."), "")
    inner = error.get("innererror")
    details = inner.get("errordetails") if isinstance(inner, dict) else None
    messages = [
        SapMessage(str(d.get("code", "")), str(d.get("message", "")), str(d.get("target") or ""))
        for d in details or []
        if isinstance(d, dict) and d.get("severity", "error") == "error" and d.get("message")
    ]
    # SAP Gateway adds an entry for each exception of the chain after the messages: the
    # messages say what is wrong; an application's exception only when there is no message.
    said = [m for m in messages if _T100_RE.match(m.code)]
    said = said or [m for m in messages if m.code not in _FRAMEWORK_EXCEPTIONS]
    return said or [top]


def leading_code(body: Any) -> str:
    """The code of SAP's leading message (the envelope's own `code`), '' if none."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""


def is_not_found(response: ErpResponse) -> bool:
    """SAP's own not-found: HTTP 404 with its OData error envelope (a message code and text).
    A 404 without it (an HTML page, an empty body, `null`) comes from something in front of
    SAP, a proxy or a load balancer, and says nothing about the record; nor does one with a
    message of SAP Gateway's hub (`/IWFND/...`), which is about the service (`missing_service`)."""
    code = _error_code(response) if response.status == 404 else None
    return code is not None and not code.startswith(_HUB_MESSAGES)


# The statuses SAP Gateway's hub answers a service not there for the caller with: 404, and 403
# on some releases (then no refused logon: SAP took the credentials to reach the hub).
_NO_SERVICE_STATUSES = frozenset({403, 404})


def missing_service(response: ErpResponse) -> ErpFailure | None:
    """SAP Gateway's hub answering 404 (or 403) with its own message: the service the gateway
    called is not there for it (not activated in /IWFND/MAINT_SERVICE, no system alias, not
    published for its user, as `/IWFND/MED/170` "No service found..." says). SAP is not set up
    as the gateway needs, whatever the request: a technical failure, for an operator to fix."""
    code = hub_code(response)
    if code is None:
        return None
    return ErpFailure(
        Code.ERP_BAD_RESPONSE,
        f"The ERP has no service for this request (SAP Gateway answered {code}): an operator "
        "must activate it (/IWFND/MAINT_SERVICE, or the communication arrangement in the "
        "cloud); `gateway doctor` checks each service the gateway calls.",
    )


def hub_code(response: ErpResponse) -> str | None:
    """The code of SAP Gateway's hub message (`/IWFND/...`) an answer refusing the service
    carries; None for any other answer."""
    code = _error_code(response) if response.status in _NO_SERVICE_STATUSES else None
    return code if code is not None and code.startswith(_HUB_MESSAGES) else None


def _error_code(response: ErpResponse) -> str | None:
    """The code of an answer's SAP error envelope (with its message); None if it has none."""
    try:
        body = response.json()
    except ErpFailure:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or "message" not in error:
        return None
    code = error.get("code")
    return code if isinstance(code, str) and code else None


def pointer_for(target: str, subject: Subject, code: Code) -> str:
    """The JSON pointer into the canonical request that an SAP error target names."""
    if subject in (Subject.CANCEL, Subject.READ):
        return ""
    field = _KEY_SUFFIX_RE.sub("", target.rstrip("/").rsplit("/", 1)[-1])
    if subject is Subject.SALES_ORDER:
        item = _ITEM_TARGET_RE.search(target)
        if item is not None:
            line = f"/items/{int(item[1]) // ITEM_STEP - 1}"
            return f"{line}/{_ITEM_FIELDS[field]}" if field in _ITEM_FIELDS else line
        pointer = _ORDER_POINTERS.get(field)
    else:
        pointer = _CUSTOMER_POINTERS.get(field)
    return pointer or _DEFAULT_POINTERS.get(code, "")


def at_billing_address(error: GatewayError, index: int) -> GatewayError:
    """`error` with its address pointers moved to where the request has its billing address."""
    prefix = BILLING_ADDRESS + "/"
    if index:
        error.errors = [
            FieldError(f"/addresses/{index}/" + e.pointer.removeprefix(prefix), e.detail)
            if e.pointer.startswith(prefix)
            else e
            for e in error.errors
        ]
    return error


def error_from_sap(body: Any, subject: Subject, terms: SapTerms) -> GatewayError:
    """An SAP business refusal as one problem: the leading message's code (else the first
    detail's), every detail's pointer.

    SAP's messages reach the user in canonical terms (SKUs and legal entities, not materials
    and company codes), and as SAP said them in `erp_message`; unknown message numbers are
    erp_rejected.
    """
    messages = sap_messages(body)
    codes = [SAP_MESSAGE_CODES.get(m.code, Code.ERP_REJECTED) for m in messages]
    # The problem's code is the leading message's; the details need not start with it.
    leading = SAP_MESSAGE_CODES.get(leading_code(body), codes[0])
    texts = [_told(m, terms) for m in messages]
    errors = [
        FieldError(pointer_for(m.target, subject, code), text)
        for m, code, text in zip(messages, codes, texts, strict=True)
    ]
    said = "; ".join(dict.fromkeys(m.message for m in messages))
    if subject in (Subject.CANCEL, Subject.READ):
        errors = []
    return GatewayError(leading, "; ".join(dict.fromkeys(texts)), errors, erp_message=said)


def _told(message: SapMessage, terms: SapTerms) -> str:
    """What SAP said in `message` as the user is told it: a code SAP does not define in the
    words of one the value maps lack, anything else in canonical terms."""
    undefined = _NOT_DEFINED.get(message.code)
    named = undefined[1].search(message.message) if undefined is not None else None
    if undefined is not None and named is not None:
        return not_set_up_text(undefined[0], named[1])
    return terms.canonical_text(message.message)


# Severities of sap-message entries a user is told about; "success" says nothing new.
_NOTICE_SEVERITIES = frozenset({"info", "warning", "error"})


def notices_from(header: str | None, terms: SapTerms) -> tuple[ErpNotice, ...]:
    """What SAP said with a success, from its `sap-message` header (a JSON message with its
    `details`), in canonical terms and in SAP's words. A header that is not SAP's JSON says
    nothing the gateway can tell a user, and does not undo the success: it is left out."""
    if not header:
        return ()
    try:
        message = json.loads(header)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return ()
    if not isinstance(message, dict):
        return ()
    details = message.get("details")
    entries = [message, *(details if isinstance(details, list) else [])]
    texts = [
        entry["message"]
        for entry in entries
        if isinstance(entry, dict)
        and isinstance(entry.get("message"), str)  # SAP's is text; a nested value is not
        and entry["message"]
        and str(entry.get("severity", "")).lower() in _NOTICE_SEVERITIES
    ]
    return tuple(ErpNotice(terms.canonical_text(t), t) for t in dict.fromkeys(texts))


def technical_error(status: int, *, write: bool, retry_after: str | None = None) -> ErpFailure:
    """A non-business HTTP status from SAP as a retryable technical problem."""
    delay = retry_after_delay(retry_after)
    headers = {"Retry-After": delay} if delay else {}
    if status in (401, 403):
        return ErpFailure(
            Code.ERP_UNAVAILABLE,
            "The ERP refused the gateway's logon; an operator must check the backend credentials.",
            headers=headers,
        )
    if status in (408, 504):
        return ErpFailure(
            Code.ERP_TIMEOUT,
            "The ERP did not answer in time; the outcome is unknown. Retry the same request with "
            "the same Idempotency-Key.",
            headers=headers,
            ambiguous=write,
        )
    if status == 429 or status >= 500:
        # 503 and 429 refuse a request before any work; any other server error (a short dump
        # after the commit, a web dispatcher that lost SAP's answer) may follow a commit.
        return ErpFailure(
            Code.ERP_UNAVAILABLE,
            f"The ERP is unavailable (HTTP {status}).",
            headers=headers,
            ambiguous=write and status not in (429, 503),
        )
    return ErpFailure(Code.ERP_BAD_RESPONSE, f"The ERP answered with an unexpected HTTP {status}.")
