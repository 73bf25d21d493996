"""The SAP adapter's requests, recorded and checked against a service's metadata with SAP's own
OData client library (pyodata): every entity set, key, property, navigation, `$select`,
`$expand` and `$filter` name, and every payload property with its EDM type and length.

Not a test by itself (see `test_sap_metadata.py`); it knows nothing of the gateway's mappings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

import pyodata.v2.model as pyodata_model

from gateway.adapters.http import AiohttpTransport, ErpResponse
from tests.fake_transport import SentRequest

ODATA_ROOT = "/sap/opu/odata/sap/"
_RESOURCE_RE = re.compile(
    r"^(?P<set>\w+)(?:\((?P<key>[^)]*)\))?(?:/(?P<nav>\w+))?(?P<count>/\$count)?$"
)
_KEY_NAME_RE = re.compile(r"(\w+)\s*=")
_FILTER_FIELD_RE = re.compile(r"(\w+)\s+(?:eq|ne|gt|ge|lt|le)\s", re.IGNORECASE)
_METADATA = "__metadata"

Schema = Any  # pyodata.v2.model.Schema (pyodata ships no type hints)
EntityType = Any  # pyodata's StructType


def load_schema(edmx: bytes, *, lenient: bool = False) -> Schema:
    """A service's metadata as pyodata builds it: strictly for our own documents; SAP's real
    ones carry annotations pyodata does not know, which `lenient` lets it skip."""
    config = (
        pyodata_model.Config(default_error_policy=pyodata_model.PolicyIgnore()) if lenient else None
    )
    logging.getLogger("pyodata").setLevel(logging.ERROR)
    return pyodata_model.MetadataBuilder(edmx, config=config).build()


class RecordingTransport(AiohttpTransport):
    """The production transport, keeping every request it sends."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.sent: list[SentRequest] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> ErpResponse:
        self.sent.append(
            SentRequest(
                method,
                path,
                dict(params or {}),
                dict(headers or {}),
                json_body,
                None,
                deadline,
            )
        )
        return await super().request(
            method,
            path,
            params=params,
            headers=headers,
            json_body=json_body,
            form=form,
            deadline=deadline,
        )


@dataclass
class Usage:
    """What the recorded requests used of each service: entity sets and property names."""

    entity_sets: set[tuple[str, str]] = field(default_factory=set)
    properties: set[tuple[str, str]] = field(default_factory=set)  # (entity type, property)


def service_of(request: SentRequest) -> str | None:
    if not request.path.startswith(ODATA_ROOT):
        return None
    return request.path[len(ODATA_ROOT) :].split("/", 1)[0]


def problems_with(
    request: SentRequest,
    schema: Schema,
    usage: Usage,
    tolerated: frozenset[str] = frozenset(),
) -> list[str]:
    """Everything in `request` that `schema` does not declare, or declares otherwise; names in
    `tolerated` (a tenant's custom fields, absent from SAP's own metadata) are let through."""
    rest = unquote(request.path[len(ODATA_ROOT) :]).split("/", 1)
    resource = rest[1] if len(rest) > 1 else ""
    if resource in ("", "$metadata"):
        return []
    match = _RESOURCE_RE.match(resource)
    if match is None:
        return [f"{request.path}: not an OData resource path"]
    checker = _Checker(schema, usage, tolerated, f"{request.method} {request.path}")
    entity_type = checker.entity_set(match["set"])
    if entity_type is None:
        return checker.problems
    if match["key"] is not None:
        checker.key(entity_type, match["key"])
    if match["nav"]:
        entity_type = checker.navigation(entity_type, match["nav"])
        if entity_type is None:
            return checker.problems
    params = request.params or {}
    for path in _paths(params.get("$expand", "")):
        checker.walk(entity_type, path, navigations_only=True)
    for path in _paths(params.get("$select", "")):
        checker.walk(entity_type, path)
    for name in _FILTER_FIELD_RE.findall(params.get("$filter", "")):
        checker.walk(entity_type, [name])
    if isinstance(request.json_body, dict):
        checker.payload(entity_type, request.json_body, "body")
    return checker.problems


def _paths(option: str) -> Iterator[list[str]]:
    for path in option.split(","):
        if path.strip():
            yield path.strip().split("/")


@dataclass
class _Checker:
    schema: Schema
    usage: Usage
    tolerated: frozenset[str]
    where: str
    problems: list[str] = field(default_factory=list)

    def _problem(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")

    def entity_set(self, name: str) -> EntityType | None:
        try:
            entity_set = self.schema.entity_set(name)
        except KeyError:
            self._problem(f"no entity set {name}")
            return None
        self.usage.entity_sets.add((entity_set.entity_type.name, name))
        return entity_set.entity_type

    def key(self, entity_type: EntityType, predicate: str) -> None:
        keys = {k.name for k in entity_type.key_proprties}
        named = set(_KEY_NAME_RE.findall(predicate))
        if (named and named != keys) or (not named and len(keys) != 1):
            self._problem(f"key ({predicate}) does not name {entity_type.name}'s keys {keys}")

    def navigation(self, entity_type: EntityType, name: str) -> EntityType | None:
        try:
            navigation = entity_type.nav_proprty(name)
        except KeyError:
            self._problem(f"{entity_type.name} has no navigation {name}")
            return None
        return navigation.to_role.entity_type

    def property(self, entity_type: EntityType, name: str) -> Any | None:
        if name in self.tolerated:
            return None
        try:
            prop = entity_type.proprty(name)
        except KeyError:
            self._problem(f"{entity_type.name} has no property {name}")
            return None
        self.usage.properties.add((entity_type.name, name))
        return prop

    def walk(
        self, entity_type: EntityType, path: list[str], navigations_only: bool = False
    ) -> None:
        """A `$select`/`$expand`/`$filter` path: navigations, then (unless only navigations)
        a property or navigation at its end."""
        current = entity_type
        for position, name in enumerate(path):
            last = position == len(path) - 1
            if last and not navigations_only and not _is_navigation(current, name):
                self.property(current, name)
                return
            following = self.navigation(current, name)
            if following is None:
                return
            current = following

    def payload(self, entity_type: EntityType, body: Mapping[str, Any], where: str) -> None:
        for name, value in body.items():
            if name == _METADATA:
                continue
            if _is_navigation(entity_type, name):
                target = self.navigation(entity_type, name)
                for row in _rows(value):
                    if target is not None:
                        self.payload(target, row, f"{where}/{name}")
                continue
            prop = self.property(entity_type, name)
            if prop is not None:
                self._value(prop, value, f"{where}/{name}")

    def _value(self, prop: Any, value: Any, where: str) -> None:
        type_name = prop.typ.name
        if value is None:
            return
        if type_name == "Edm.Boolean":
            ok = isinstance(value, bool)
        elif type_name == "Edm.String":
            ok = isinstance(value, str) and (
                not prop.max_length or len(value) <= int(prop.max_length)
            )
        elif type_name == "Edm.Decimal":
            ok = isinstance(value, str) and _decimal_fits(value, prop)
        elif type_name in ("Edm.DateTime", "Edm.DateTimeOffset"):
            ok = isinstance(value, str) and value.startswith("/Date(")
        else:
            ok = isinstance(value, str)
        if not ok:
            self._problem(f"{where}: {value!r} is no {type_name} (max length {prop.max_length})")


def _is_navigation(entity_type: EntityType, name: str) -> bool:
    return any(n.name == name for n in entity_type.nav_proprties)


def _rows(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, dict) and isinstance(value.get("results"), list):
        value = value["results"]
    rows = value if isinstance(value, list) else [value]
    return [row for row in rows if isinstance(row, dict)]


def _decimal_fits(value: str, prop: Any) -> bool:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    precision, scale = prop.precision or 38, prop.scale or 0
    exponent = number.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return places <= scale and max(number.adjusted() + 1, 0) <= precision - scale
