"""Incoming deep-insert payloads checked against the service's entity types, as SAP Gateway
deserializes them: an unknown property, a value of the wrong EDM type or one over its length
is refused with SAP's error envelope before any business rule runs.

Not business checks (see `partners`, `sales`): a payload that passes here may still be refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from erp_simulators.sap.edm import Edm, EntityType, Property, Service
from erp_simulators.sap.odata import SapError, bad_request

# SAP Gateway's message numbers for what its JSON parser refuses. The numbers are the
# simulator's: no public source lists which /IWBEP/CM_MGW_RT number each refusal carries.
MSG_INVALID_VALUE = "/IWBEP/CM_MGW_RT/003"
MSG_TOO_LONG = "/IWBEP/CM_MGW_RT/004"
MSG_UNKNOWN_PROPERTY = "/IWBEP/CM_MGW_RT/007"

_DATETIME_RE = re.compile(r"^/Date\(-?\d+\)/$|^\d{4}-\d{2}-\d{2}(T[0-9:.]+)?$")
_DATETIMEOFFSET_RE = re.compile(r"^/Date\(-?\d+(?:[+-]\d{4})?\)/$|^\d{4}-\d{2}-\d{2}T[0-9:.]+Z?$")
_METADATA = "__metadata"


def check_payload(service: Service, entity_type: EntityType, payload: Mapping[str, Any]) -> None:
    """Raise the SapError SAP Gateway answers for the first property it cannot deserialize."""
    _check_entity(service, entity_type, payload, "")


def _check_entity(
    service: Service, entity_type: EntityType, payload: Mapping[str, Any], path: str
) -> None:
    for name, value in payload.items():
        if name == _METADATA:
            continue
        target = f"{path}/{name}" if path else name
        prop = entity_type.property_named(name)
        if prop is not None:
            _check_value(prop, value, target)
            continue
        navigation = entity_type.navigation_named(name)
        if navigation is None:
            raise bad_request(
                MSG_UNKNOWN_PROPERTY,
                f"Property '{name}' is invalid for entity type '{service.name}.{entity_type.name}'",
                target,
            )
        inner = service.entity_type(navigation.target)
        for row in _inline_rows(value, navigation.many, target):
            _check_entity(service, inner, row, target)


def _inline_rows(value: Any, many: bool, target: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if many and isinstance(value, dict) and "results" in value:
        value = value["results"]
    rows = value if many and isinstance(value, list) else [value]
    if not all(isinstance(row, dict) for row in rows):
        raise bad_request(MSG_INVALID_VALUE, f"Invalid inline content for '{target}'", target)
    return rows


def _check_value(prop: Property, value: Any, target: str) -> None:
    if value is None:
        if not prop.nullable:
            raise _invalid(prop, value, target)
        return
    if prop.type is Edm.BOOLEAN:
        if not isinstance(value, bool):
            raise _invalid(prop, value, target)
        return
    if not isinstance(value, str):  # OData v2 JSON: decimals and dates travel as strings
        raise _invalid(prop, value, target)
    if prop.type is Edm.STRING:
        if prop.max_length is not None and len(value) > prop.max_length:
            raise bad_request(
                MSG_TOO_LONG,
                f"Value '{value}' of property '{prop.name}' exceeds the maximum length of "
                f"{prop.max_length}",
                target,
            )
    elif prop.type is Edm.DECIMAL:
        if not _fits_decimal(value, prop):
            raise _invalid(prop, value, target)
    elif prop.type is Edm.DATETIME:
        if not _DATETIME_RE.match(value):
            raise _invalid(prop, value, target)
    elif prop.type is Edm.DATETIMEOFFSET and not _DATETIMEOFFSET_RE.match(value):
        raise _invalid(prop, value, target)


def _fits_decimal(value: str, prop: Property) -> bool:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    if not number.is_finite():
        return False
    precision, scale = prop.precision or 38, prop.scale or 0
    exponent = number.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    whole = max(number.adjusted() + 1, 0)
    return places <= scale and whole <= precision - scale


def _invalid(prop: Property, value: Any, target: str) -> SapError:
    return bad_request(
        MSG_INVALID_VALUE,
        f"Invalid value '{value}' for property '{prop.name}' of type {prop.type.value}",
        target,
    )
