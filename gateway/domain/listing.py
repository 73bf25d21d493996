"""Names listed in a message ("unknown legal entity 'FR02' (known: CA01, DE01, ...)"): sorted,
and at most `KNOWN_SHOWN` of them, so that a configuration of thousands of legal entities or
clients still says it in one line.

Not the messages themselves; each is where its fact is known.
"""

from __future__ import annotations

from collections.abc import Iterable

KNOWN_SHOWN = 20


def some_of(names: Iterable[str], shown: int = KNOWN_SHOWN) -> str:
    """`names` sorted and joined by commas, the first `shown` of them and then how many more
    ("A, B, and 3 more"); "none" for none."""
    listed = sorted(names)
    if not listed:
        return "none"
    if len(listed) <= shown:
        return ", ".join(listed)
    return f"{', '.join(listed[:shown])}, and {len(listed) - shown} more"


def known(names: Iterable[str]) -> str:
    """ "(known: A, B, ...)", for a message about a name that is not one of `names`."""
    return f"(known: {some_of(names)})"
