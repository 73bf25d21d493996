"""What every adapter's value maps share: reading a canonical -> ERP map the other way.

Not any ERP's maps (see `sap/value_maps.py`, `netsuite/value_maps.py`).
"""

from __future__ import annotations

from collections.abc import Mapping


def inverse(mapping: Mapping[str, str]) -> dict[str, str]:
    """ERP key -> canonical code; where two canonical codes share a key, the first listed wins."""
    reverse: dict[str, str] = {}
    for canonical, key in mapping.items():
        reverse.setdefault(key, canonical)
    return reverse
