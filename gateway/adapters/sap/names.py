"""An organization's name in SAP's four 40-character name fields: wrapped at blanks between words
so that it reads back unchanged, joined again when read; refused when the fields cannot keep it.

Not the rest of the business partner (see `outbound.py`, `inbound.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.adapters.sap.odata import text_of
from gateway.adapters.sap.services import NAME_FIELDS, NAME_PART_LENGTH
from gateway.domain.errors import Code, FieldError, RefusedBeforeSending

_BLANK = " "
_POINTER = "/legal_name"


def name_parts(legal_name: str) -> tuple[str, ...]:
    """`legal_name` in as few of the name fields as it needs, each part at most a field long,
    broken at a blank after a word (shown again as one blank between the fields, see
    `organization_name`), so that no part ends in a blank: SAP drops a field's trailing blanks,
    not its leading ones, so the rest of a run of blanks begins the next part. Filling each part
    as far as it goes needs the fewest parts.

    Raises 422 erp_rejected at /legal_name when the fields cannot keep the name whole (a word
    longer than a field, more parts than fields), rather than cut it inside a word."""
    parts: list[str] = []
    rest = legal_name
    while len(rest) > NAME_PART_LENGTH:
        at = _last_break(rest)
        if at is None:
            raise _not_kept_whole(legal_name)
        parts.append(rest[:at])
        rest = rest[at + 1 :]
    parts.append(rest)
    if len(parts) > len(NAME_FIELDS):
        raise _not_kept_whole(legal_name)
    return tuple(parts)


def organization_name(entity: Mapping[str, Any]) -> str:
    """The name fields joined by one blank, as SAP shows a partner's name."""
    return _BLANK.join(name for name in (text_of(entity, f) for f in NAME_FIELDS) if name)


def _last_break(text: str) -> int | None:
    """The last blank a part of `text` can end before: within a field's length, after a word
    (a part ending in a blank would lose it)."""
    for at in range(min(NAME_PART_LENGTH, len(text) - 1), 0, -1):
        if text[at] == _BLANK and text[at - 1] != _BLANK:
            return at
    return None


def _not_kept_whole(legal_name: str) -> RefusedBeforeSending:
    longest = max(legal_name.split(_BLANK), key=len)
    if len(longest) > NAME_PART_LENGTH:
        why = f'its word "{longest}" has {len(longest)} characters'
    elif len(legal_name) > len(NAME_FIELDS) * (NAME_PART_LENGTH + 1) - 1:
        why = f"it has {len(legal_name)} characters"
    else:
        why = "it has no blank after a word where it would have to be broken"
    text = (
        f"The ERP keeps a legal name in at most {len(NAME_FIELDS)} parts of {NAME_PART_LENGTH} "
        f"characters, broken at blanks between words, and cannot keep this one whole: "
        f"{why}."
    )
    return RefusedBeforeSending(Code.ERP_REJECTED, text, [FieldError(_POINTER, text)])
