"""API_BUSINESS_PARTNER: business partners with roles, addresses, tax numbers and customer data.

Not sales: orders only read the customer's sales areas (see `sales`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from erp_simulators.sap import catalog, operations
from erp_simulators.sap.odata import (
    EntitySet,
    ErrorDetail,
    Node,
    SapError,
    bad_request,
    decimal_value,
    edm_datetime,
    edm_datetimeoffset,
    edm_decimal,
    inline_rows,
    key_text,
    text_value,
)
from erp_simulators.sap.records import (
    BusinessPartner,
    CustomerCompany,
    CustomerSalesArea,
    Ledger,
    PartnerAddress,
    today_ms,
)

SERVICE = "API_BUSINESS_PARTNER"
_NS = SERVICE + "."

# Message numbers of the business checks (class CVI_API), which callers may act on.
MSG_MANDATORY = "CVI_API/001"
MSG_COMPANY_CODE_UNKNOWN = "CVI_API/003"
MSG_SALES_AREA_UNKNOWN = "CVI_API/004"
MSG_CURRENCY_INVALID = "CVI_API/005"
MSG_PAYMENT_TERMS_UNKNOWN = "CVI_API/011"
MSG_TAX_NUMBER_REQUIRED = "CVI_API/012"
MSG_ROLE_MISSING = "CVI_API/015"
MSG_VALUE_INVALID = "CVI_API/016"


def create_partner(ledger: Ledger, payload: dict[str, Any]) -> BusinessPartner:
    """Validate a deep insert of A_BusinessPartner and keep it; refusals raise `SapError`."""
    category = text_value(payload, "BusinessPartnerCategory", 1)
    if category not in catalog.BP_CATEGORIES:
        raise bad_request(
            MSG_MANDATORY, "Enter a valid business partner category", "BusinessPartnerCategory"
        )
    partner = BusinessPartner(
        number="",
        category=category,
        grouping=text_value(payload, "BusinessPartnerGrouping", 4) or "BP02",
        name1=text_value(payload, "OrganizationBPName1", 40),
        name2=text_value(payload, "OrganizationBPName2", 40),
        name3=text_value(payload, "OrganizationBPName3", 40),
        name4=text_value(payload, "OrganizationBPName4", 40),
        first_name=text_value(payload, "FirstName", 40),
        last_name=text_value(payload, "LastName", 40),
        external_id=text_value(payload, "BusinessPartnerIDByExtSystem", 20),
        search_term=text_value(payload, "SearchTerm1", 20),
        gateway_ref=text_value(payload, "YY1_GatewayRef_SDH", 35),
        credit_limit=_credit_limit(payload),
        created_ms=today_ms(),
        roles=_roles(payload),
        addresses=[
            _address(row, n)
            for n, row in enumerate(inline_rows(payload, "to_BusinessPartnerAddress"), 1)
        ],
        taxes=_taxes(payload),
    )
    if category == "2" and not partner.name1:
        raise bad_request(MSG_MANDATORY, "Enter a name (Name 1)", "OrganizationBPName1")
    if category == "1" and not partner.last_name:
        raise bad_request(MSG_MANDATORY, "Enter a last name", "LastName")
    customer = payload.get("to_Customer")
    if customer is not None:
        if not isinstance(customer, dict):
            raise bad_request(
                MSG_VALUE_INVALID, "Invalid inline content for 'to_Customer'", "to_Customer"
            )
        partner.is_customer = True
        partner.companies = [_company(row) for row in inline_rows(customer, "to_CustomerCompany")]
        partner.sales_areas = [
            _sales_area(row) for row in inline_rows(customer, "to_CustomerSalesArea")
        ]
    problems = _customer_problems(partner)
    if problems:
        raise SapError(400, problems)
    partner.search_term = partner.search_term or partner.full_name[:20].upper()
    partner.number = ledger.next_number("business_partner")
    ledger.add_partner(partner)
    return partner


def _credit_limit(payload: Mapping[str, Any]) -> Decimal | None:
    raw = payload.get("YY1_CreditLimit_bus")
    if raw is None or raw == "":
        return None
    limit = decimal_value(raw, "YY1_CreditLimit_bus")
    if limit < 0:
        raise bad_request(
            MSG_VALUE_INVALID, "A credit limit cannot be negative", "YY1_CreditLimit_bus"
        )
    return limit


def _roles(payload: Mapping[str, Any]) -> list[str]:
    roles = []
    for row in inline_rows(payload, "to_BusinessPartnerRole"):
        role = text_value(
            row, "BusinessPartnerRole", 6, "/to_BusinessPartnerRole/BusinessPartnerRole"
        )
        if role not in catalog.BP_ROLES:
            raise bad_request(
                MSG_VALUE_INVALID,
                f"Business partner role {role} does not exist",
                f"/to_BusinessPartnerRole('{role}')/BusinessPartnerRole",
            )
        roles.append(role)
    return roles


def _address(row: Mapping[str, Any], number: int) -> PartnerAddress:
    base = "/to_BusinessPartnerAddress/"
    country = text_value(row, "Country", 3, base + "Country")
    if len(country) != 2 or not country.isalpha() or not country.isupper():
        raise bad_request(
            MSG_VALUE_INVALID, f"Country key '{country}' is not defined", base + "Country"
        )
    emails = []
    for email_row in inline_rows(row, "to_EmailAddress"):
        email = text_value(email_row, "EmailAddress", 241, base + "to_EmailAddress/EmailAddress")
        if "@" not in email:
            raise bad_request(
                MSG_VALUE_INVALID,
                f"E-mail address {email} is not valid",
                base + "to_EmailAddress/EmailAddress",
            )
        emails.append(email)
    return PartnerAddress(
        address_id=str(number),
        street=text_value(row, "StreetName", 60, base + "StreetName"),
        street_suffix=text_value(row, "StreetSuffixName", 40, base + "StreetSuffixName"),
        city=text_value(row, "CityName", 40, base + "CityName"),
        postal_code=text_value(row, "PostalCode", 10, base + "PostalCode"),
        region=text_value(row, "Region", 3, base + "Region"),
        country=country,
        language=text_value(row, "Language", 2, base + "Language") or "EN",
        emails=emails,
    )


def _taxes(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    taxes = []
    for row in inline_rows(payload, "to_BusinessPartnerTax"):
        tax_type = text_value(row, "BPTaxType", 4, "/to_BusinessPartnerTax/BPTaxType")
        number = text_value(row, "BPTaxNumber", 20, "/to_BusinessPartnerTax/BPTaxNumber")
        if not tax_type or not number:
            raise bad_request(
                MSG_MANDATORY,
                "Enter a tax number category and a tax number",
                "/to_BusinessPartnerTax/BPTaxNumber",
            )
        taxes.append((tax_type, number))
    return taxes


def _company(row: Mapping[str, Any]) -> CustomerCompany:
    base = "/to_Customer/to_CustomerCompany/"
    return CustomerCompany(
        company_code=text_value(row, "CompanyCode", 4, base + "CompanyCode"),
        payment_terms=text_value(row, "PaymentTerms", 4, base + "PaymentTerms"),
        reconciliation_account=text_value(
            row, "ReconciliationAccount", 10, base + "ReconciliationAccount"
        )
        or catalog.DEFAULT_RECONCILIATION_ACCOUNT,
    )


def _sales_area(row: Mapping[str, Any]) -> CustomerSalesArea:
    base = "/to_Customer/to_CustomerSalesArea/"
    return CustomerSalesArea(
        sales_organization=text_value(row, "SalesOrganization", 4, base + "SalesOrganization"),
        distribution_channel=text_value(
            row, "DistributionChannel", 2, base + "DistributionChannel"
        ),
        division=text_value(row, "Division", 2, base + "Division"),
        currency=text_value(row, "Currency", 5, base + "Currency"),
        payment_terms=text_value(row, "CustomerPaymentTerms", 4, base + "CustomerPaymentTerms"),
    )


def _customer_problems(partner: BusinessPartner) -> list[ErrorDetail]:
    """Every business refusal of the customer data at once, as SAP lists them in errordetails."""
    problems: list[ErrorDetail] = []
    if partner.companies and catalog.COMPANY_ROLE not in partner.roles:
        problems.append(_role_missing(catalog.COMPANY_ROLE, "company code"))
    if partner.sales_areas and catalog.SALES_ROLE not in partner.roles:
        problems.append(_role_missing(catalog.SALES_ROLE, "sales area"))
    for company in partner.companies:
        base = f"/to_Customer/to_CustomerCompany('{company.company_code}')/"
        company_code = catalog.COMPANY_CODES.get(company.company_code)
        if company_code is None:
            problems.append(
                ErrorDetail(
                    MSG_COMPANY_CODE_UNKNOWN,
                    f"Company code {company.company_code} does not exist",
                    base + "CompanyCode",
                )
            )
        elif company_code.country in catalog.TAX_NUMBER_REQUIRED and not partner.taxes:
            problems.append(
                ErrorDetail(
                    MSG_TAX_NUMBER_REQUIRED,
                    f"Enter a tax number: customers of company code {company_code.code} "
                    f"({company_code.country}) need a VAT registration number",
                    "/to_BusinessPartnerTax/BPTaxNumber",
                )
            )
        if company.payment_terms and company.payment_terms not in catalog.PAYMENT_TERMS:
            problems.append(_terms_unknown(company.payment_terms, base + "PaymentTerms"))
    for area in partner.sales_areas:
        base = (
            f"/to_Customer/to_CustomerSalesArea(SalesOrganization='{area.sales_organization}',"
            f"DistributionChannel='{area.distribution_channel}',Division='{area.division}')/"
        )
        problems.extend(_sales_area_problems(area, base))
    return problems


def _sales_area_problems(area: CustomerSalesArea, base: str) -> list[ErrorDetail]:
    problems = []
    for value, known, name in (
        (area.sales_organization, catalog.SALES_ORGANIZATIONS, "SalesOrganization"),
        (area.distribution_channel, catalog.DISTRIBUTION_CHANNELS, "DistributionChannel"),
        (area.division, catalog.DIVISIONS, "Division"),
    ):
        if value not in known:
            problems.append(
                ErrorDetail(
                    MSG_SALES_AREA_UNKNOWN,
                    f"Sales area {area.sales_organization}/{area.distribution_channel}/"
                    f"{area.division} is not defined",
                    base + name,
                )
            )
    if area.currency not in catalog.CURRENCIES:
        problems.append(
            ErrorDetail(
                MSG_CURRENCY_INVALID, f"Currency {area.currency} is not defined", base + "Currency"
            )
        )
    if area.payment_terms and area.payment_terms not in catalog.PAYMENT_TERMS:
        problems.append(_terms_unknown(area.payment_terms, base + "CustomerPaymentTerms"))
    return problems


def _role_missing(role: str, data: str) -> ErrorDetail:
    return ErrorDetail(
        MSG_ROLE_MISSING,
        f"Business partner role {role} is required to maintain {data} data",
        "/to_BusinessPartnerRole/BusinessPartnerRole",
    )


def _terms_unknown(terms: str, target: str) -> ErrorDetail:
    return ErrorDetail(
        MSG_PAYMENT_TERMS_UNKNOWN, f"Terms of payment {terms} are not defined", target
    )


# --- entities ---------------------------------------------------------------------------------


def partner_node(partner: BusinessPartner) -> Node:
    number = partner.number
    return Node(
        path="A_BusinessPartner" + key_text(BusinessPartner=number),
        type_name=_NS + "A_BusinessPartnerType",
        properties={
            "BusinessPartner": number,
            "Customer": number if partner.is_customer else "",
            "Supplier": "",
            "BusinessPartnerCategory": partner.category,
            "BusinessPartnerFullName": partner.full_name,
            "BusinessPartnerGrouping": partner.grouping,
            "BusinessPartnerName": partner.full_name,
            "FirstName": partner.first_name,
            "LastName": partner.last_name,
            "OrganizationBPName1": partner.name1,
            "OrganizationBPName2": partner.name2,
            "OrganizationBPName3": partner.name3,
            "OrganizationBPName4": partner.name4,
            "SearchTerm1": partner.search_term,
            "BusinessPartnerIDByExtSystem": partner.external_id,
            "BusinessPartnerIsBlocked": partner.blocked,
            "CreationDate": edm_datetime(partner.created_ms),
            "YY1_GatewayRef_SDH": partner.gateway_ref,
            "YY1_CreditLimit_bus": edm_decimal(partner.credit_limit),
        },
        navigation={
            "to_BusinessPartnerRole": lambda: [_role_node(number, r) for r in partner.roles],
            "to_BusinessPartnerAddress": lambda: [
                _address_node(number, a) for a in partner.addresses
            ],
            "to_BusinessPartnerTax": lambda: [_tax_node(number, t, n) for t, n in partner.taxes],
            "to_Customer": lambda: customer_node(partner) if partner.is_customer else None,
        },
    )


def _role_node(number: str, role: str) -> Node:
    return Node(
        path="A_BusinessPartnerRole" + key_text(BusinessPartner=number, BusinessPartnerRole=role),
        type_name=_NS + "A_BusinessPartnerRoleType",
        properties={
            "BusinessPartner": number,
            "BusinessPartnerRole": role,
            "ValidFrom": edm_datetimeoffset(0),
            "ValidTo": edm_datetimeoffset(253402214400000000),
        },
    )


def _address_node(number: str, address: PartnerAddress) -> Node:
    path = "A_BusinessPartnerAddress" + key_text(
        BusinessPartner=number, AddressID=address.address_id
    )
    return Node(
        path=path,
        type_name=_NS + "A_BusinessPartnerAddressType",
        properties={
            "BusinessPartner": number,
            "AddressID": address.address_id,
            "StreetName": address.street,
            "StreetSuffixName": address.street_suffix,
            "CityName": address.city,
            "PostalCode": address.postal_code,
            "Region": address.region,
            "Country": address.country,
            "Language": address.language,
        },
        navigation={
            "to_EmailAddress": lambda: [
                _email_node(address.address_id, n, email)
                for n, email in enumerate(address.emails, 1)
            ]
        },
    )


def _email_node(address_id: str, ordinal: int, email: str) -> Node:
    return Node(
        path="A_AddressEmailAddress"
        + key_text(AddressID=address_id, Person="", OrdinalNumber=str(ordinal)),
        type_name=_NS + "A_AddressEmailAddressType",
        properties={
            "AddressID": address_id,
            "Person": "",
            "OrdinalNumber": str(ordinal),
            "IsDefaultEmailAddress": ordinal == 1,
            "EmailAddress": email,
        },
    )


def _tax_node(number: str, tax_type: str, tax_number: str) -> Node:
    return Node(
        path="A_BusinessPartnerTaxNumber" + key_text(BusinessPartner=number, BPTaxType=tax_type),
        type_name=_NS + "A_BusinessPartnerTaxNumberType",
        properties={"BusinessPartner": number, "BPTaxType": tax_type, "BPTaxNumber": tax_number},
    )


def customer_node(partner: BusinessPartner) -> Node:
    number = partner.number
    return Node(
        path="A_Customer" + key_text(Customer=number),
        type_name=_NS + "A_CustomerType",
        properties={
            "Customer": number,
            "CustomerName": partner.full_name[:35],
            "CustomerFullName": partner.full_name,
            "OrderIsBlockedForCustomer": "",
            "PostingIsBlocked": partner.blocked,
            "DeletionIndicator": False,
        },
        navigation={
            "to_CustomerCompany": lambda: [_company_node(number, c) for c in partner.companies],
            "to_CustomerSalesArea": lambda: [
                _sales_area_node(number, a) for a in partner.sales_areas
            ],
        },
    )


def _company_node(number: str, company: CustomerCompany) -> Node:
    return Node(
        path="A_CustomerCompany" + key_text(Customer=number, CompanyCode=company.company_code),
        type_name=_NS + "A_CustomerCompanyType",
        properties={
            "Customer": number,
            "CompanyCode": company.company_code,
            "PaymentTerms": company.payment_terms,
            "ReconciliationAccount": company.reconciliation_account,
            "DeletionIndicator": False,
        },
    )


def _sales_area_node(number: str, area: CustomerSalesArea) -> Node:
    keys = {
        "Customer": number,
        "SalesOrganization": area.sales_organization,
        "DistributionChannel": area.distribution_channel,
        "Division": area.division,
    }
    return Node(
        path="A_CustomerSalesArea" + key_text(**keys),
        type_name=_NS + "A_CustomerSalesAreaType",
        properties={**keys, "Currency": area.currency, "CustomerPaymentTerms": area.payment_terms},
    )


def entity_sets(ledger: Ledger) -> dict[str, EntitySet]:
    def partner(key: Mapping[str, str]) -> BusinessPartner | None:
        return ledger.partners.get(key["BusinessPartner"])

    def customer(key: Mapping[str, str]) -> BusinessPartner | None:
        found = ledger.partners.get(key["Customer"])
        return found if found is not None and found.is_customer else None

    def by_gateway_ref(ref: str) -> list[BusinessPartner]:
        return [ledger.partners[n] for n in ledger.partners_by_ref.get(ref, ())]

    def create(payload: dict[str, Any]) -> Node:
        return partner_node(create_partner(ledger, payload))

    return {
        "A_BusinessPartner": EntitySet(
            keys=("BusinessPartner",),
            read_operation=operations.CUSTOMERS_READ,
            rows=lambda: ledger.partners.values(),
            lookup=partner,
            node=partner_node,
            indexed={"YY1_GatewayRef_SDH": by_gateway_ref},
            create=create,
            create_operation=operations.CUSTOMERS_CREATE,
        ),
        "A_Customer": EntitySet(
            keys=("Customer",),
            read_operation=operations.CUSTOMERS_READ,
            rows=lambda: (p for p in ledger.partners.values() if p.is_customer),
            lookup=customer,
            node=customer_node,
        ),
    }
