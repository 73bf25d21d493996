"""An organization's name over SAP's four name fields: wrapped at blanks, or refused."""

from __future__ import annotations

from gateway.adapters.sap.names import name_parts
from gateway.domain.errors import Code
from tests.unit.adapters.sap.samples import raised


def test_a_name_of_words_that_fit_more_than_four_fields_is_refused() -> None:
    # The API takes at most 80 characters, which always fit; the rule still holds on its own.
    error = raised(name_parts, " ".join(letter * 40 for letter in "ABCDE"))

    assert (error.code, [e.pointer for e in error.errors]) == (Code.ERP_REJECTED, ["/legal_name"])
    assert "4 parts" in error.detail


def test_the_most_a_name_may_fill_is_four_whole_fields() -> None:
    name = " ".join(letter * 40 for letter in "ABCD")

    assert name_parts(name) == tuple(letter * 40 for letter in "ABCD")
