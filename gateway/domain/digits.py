"""Whole numbers written as text (a sequence, a port, a Retry-After, an ERP's internal id): ASCII
digits only. `str.isdigit()` also takes "²", "①" and other scripts' digits, which `int()` then
refuses or reads as another number.

Not decimals (see `gateway.domain.models`, whose pattern takes ASCII digits only as well).
"""

from __future__ import annotations


def ascii_digits(text: str) -> bool:
    """Whether `text` is one or more of the digits 0-9 and nothing else."""
    return text.isascii() and text.isdigit()
