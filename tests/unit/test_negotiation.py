"""Content negotiation by Accept header: quality values, wildcards, and the resource's default."""

from __future__ import annotations

import pytest

from gateway.api.negotiation import preferred

OFFERS = ("text/markdown", "text/html")  # as the changelog offers them: markdown by default
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
    "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (CHROME, "text/html"),
        (FIREFOX, "text/html"),
        ("text/markdown", "text/markdown"),
        ("*/*", "text/markdown"),  # curl: no preference, the default
        (None, "text/markdown"),
        ("", "text/markdown"),
        ("text/*", "text/markdown"),
        ("text/html;q=0.5, text/markdown;q=0.9", "text/markdown"),
        ("TEXT/HTML", "text/html"),
        ("text/markdown;q=0, */*", "text/html"),  # refused explicitly, despite the wildcard
        ("application/json", "text/markdown"),  # nothing acceptable: the default, not a 406
        ("text/html;q=oops, text/markdown;q=0.1", "text/markdown"),
    ],
)
def test_the_offer_the_client_rates_highest_is_chosen(accept: str | None, chosen: str) -> None:
    assert preferred(accept, OFFERS) == chosen
