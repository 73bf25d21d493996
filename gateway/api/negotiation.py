"""Content negotiation: which of the media types a resource offers suits a request's `Accept`
header (RFC 9110, section 12.5.1), with quality values and wildcards.

Not the representations themselves (see `changelog.py`).
"""

from __future__ import annotations

from collections.abc import Sequence


def _ranges(accept: str) -> list[tuple[str, float]]:
    """Each media range of an Accept header and its quality; a malformed quality counts as 0."""
    ranges = []
    for part in accept.split(","):
        media_range, *params = (p.strip() for p in part.split(";"))
        if not media_range:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        ranges.append((media_range.lower(), quality))
    return ranges


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    """The quality the client gives `offer`: that of the most specific range matching it."""
    kind = offer.split("/", 1)[0]
    best_specificity, quality = -1, 0.0
    for media_range, q in ranges:
        if media_range == offer:
            specificity = 2
        elif media_range == f"{kind}/*":
            specificity = 1
        elif media_range == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, quality = specificity, q
    return quality


def preferred(accept: str | None, offers: Sequence[str]) -> str:
    """The offer the client rates highest; ties, an absent header and a header that accepts
    none of the offers all get the first offer (the resource's default)."""
    if not accept:
        return offers[0]
    ranges = _ranges(accept)
    best, best_quality = offers[0], 0.0
    for offer in offers:
        quality = _quality(offer, ranges)
        if quality > best_quality:
            best, best_quality = offer, quality
    return best
