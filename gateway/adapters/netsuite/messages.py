"""NetSuite's words in canonical terms: the internal ids an error names (subsidiaries, items,
terms, currencies) turned back, through the backend's value maps, into legal entities, SKUs,
payment terms and ISO currencies; its field paths into the client's request pointers.

Not which problem an error is (see `errors.py`); NetSuite's own words are kept beside these
(`erp_message`). A pure function.

NetSuite names internal ids in a few sentence shapes: "You have entered an Invalid Field Value
1002 for the following field: item", "Invalid entity reference key 301 for subsidiary 3", and
"<record type> <id>" inside its (and an account's scripts') messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from gateway.adapters.netsuite.value_maps import NetSuiteMaps

# NetSuite's boilerplate before every record error: no news to a user.
_RESOURCE_PREFIX = "Error while accessing a resource. "
_FIELD_VALUE = re.compile(
    r"(?:You have entered an )?Invalid Field Value (?P<id>\S+) for the following field: "
    r"(?P<path>[\w.\[\]]+?)(?P<end>\.?(?:\s|$))"
)
_REFERENCE_KEY = re.compile(
    r"Invalid (?P<kind>entity|customer|item) reference key (?P<id>\d+) for subsidiary "
    r"(?P<subsidiary>\d+)\.?"
)
_NAMED_ID = re.compile(r"\b(?P<kind>subsidiary|item|terms|term|currency) (?P<id>\d+)\b")

Lookup = Callable[[NetSuiteMaps], Mapping[str, str]]
# A NetSuite field or record type -> what the client calls it, and the map from ids to codes.
_KINDS: dict[str, tuple[str, Lookup | None]] = {
    "subsidiary": ("legal entity", lambda m: m.legal_entity_of_subsidiary),
    "item": ("SKU", lambda m: m.sku_of_item),
    "terms": ("payment terms", lambda m: m.terms_of_id),
    "term": ("payment terms", lambda m: m.terms_of_id),
    "currency": ("currency", lambda m: m.currency_of_id),
    "entity": ("customer", None),  # an internal id the client never sees: "the customer"
    "customer": ("customer", None),
}


def _code(maps: NetSuiteMaps, kind: str, internal_id: str) -> str | None:
    lookup = _KINDS[kind][1]
    return lookup(maps).get(internal_id) if lookup is not None else None


def canonical_text(
    text: str, maps: NetSuiteMaps, path: str | None = None, pointer: str | None = None
) -> str:
    """`text` with every internal id it names as the canonical code, and NetSuite's field
    `path` (the error's `o:errorPath`) as the request's `pointer`. An id the value maps do not
    know is left out of the sentence rather than shown."""

    def field_value(match: re.Match[str]) -> str:
        kind = match["path"].rpartition(".")[2]
        label, _ = _KINDS.get(kind, (None, None))
        if label is None:
            return match[0]
        code = _code(maps, kind, match["id"])
        value = f"{code} " if code else ""
        return f"Invalid value {value}for the {label}{match['end']}"

    def reference_key(match: re.Match[str]) -> str:
        legal_entity = _code(maps, "subsidiary", match["subsidiary"])
        where = f"legal entity {legal_entity}" if legal_entity else "this legal entity"
        if match["kind"] == "item":
            sku = _code(maps, "item", match["id"])
            return (
                f"SKU {sku} is not sold in {where}." if sku else f"An item is not sold in {where}."
            )
        return f"The customer is not set up in {where}."

    def named_id(match: re.Match[str]) -> str:
        code = _code(maps, match["kind"], match["id"])
        return f"{_KINDS[match['kind']][0]} {code}" if code else match[0]

    text = text.removeprefix(_RESOURCE_PREFIX)
    if path and pointer:
        # Where NetSuite quotes the path ("field 'item.items[0].quantity'", "field name: x").
        text = text.replace(f"'{path}'", f"'{pointer}'").replace(
            f"field name: {path}", f"field name: {pointer}"
        )
    text = _FIELD_VALUE.sub(field_value, text)
    text = _REFERENCE_KEY.sub(reference_key, text)
    return _NAMED_ID.sub(named_id, text)
