"""Where NetSuite records live: the id of a created record."""

from __future__ import annotations

import pytest

from gateway.adapters.netsuite.records import record_id_from_location
from gateway.domain.errors import Code, ErpFailure


def test_the_created_records_id_comes_from_the_location_header() -> None:
    location = "https://1234.suitetalk.api.netsuite.com/services/rest/record/v1/salesOrder/7001"
    assert record_id_from_location(location, "salesOrder") == "7001"
    with pytest.raises(ErpFailure) as raised:
        record_id_from_location(None, "salesOrder")
    assert raised.value.code is Code.ERP_BAD_RESPONSE
    assert raised.value.ambiguous  # the record may exist: the retry must search first
