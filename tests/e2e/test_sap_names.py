"""A long legal name through the gateway to the legacy ERP and back: kept whole over SAP's name
fields, or refused before anything is sent when those fields cannot keep it."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.checks import assert_business_problem, create_customer, stats
from tests.e2e.payloads import customer

# 77 characters, no blank at positions 36 to 40: two name fields would cut "Corporation".
IBM_DE = "International Business Machines Corporation Deutschland Holding GmbH & Co. KG"


# 47 characters, two blanks between words: the second field begins with a blank.
DOUBLE_BLANKS = "Acme  Widgets  International  Holdings  Limited"


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("name", [IBM_DE, DOUBLE_BLANKS])
def test_a_long_legal_name_created_on_sap_reads_back_unchanged(
    api: httpx.Client, version: str, name: str
) -> None:
    created = create_customer(api, "DE01", name=name)

    read = api.get(f"/{version}/customers/{created['id']}")

    assert read.status_code == 200, read.text
    assert created["name"] == name
    assert read.json()["name" if version == "v1" else "legal_name"] == name


def test_a_name_with_a_word_longer_than_sap_keeps_is_refused_before_sending(
    api: httpx.Client, legacy: httpx.Client
) -> None:
    before = stats(legacy)["requests"]

    response = api.post("/v1/customers", json=customer("DE01", name="Acme " + "B" * 41))

    assert_business_problem(response, "erp_rejected", "/name")
    assert "SAP" not in response.text
    assert stats(legacy)["requests"] == before
