"""The Entity Data Model of an OData v2 service as SAP declares it: entity types with typed,
length-limited properties, keys, navigations (and the associations behind them), entity sets.

Not any one service's content (see `schema`), nor its XML (`edmx`) or request checks (`payloads`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Edm(StrEnum):
    STRING = "Edm.String"
    DECIMAL = "Edm.Decimal"
    DATETIME = "Edm.DateTime"
    DATETIMEOFFSET = "Edm.DateTimeOffset"
    BOOLEAN = "Edm.Boolean"


class Release(StrEnum):
    """Which release of SAP's services the simulator answers as.

    BASELINE has only the properties every release we know of declares; LATEST adds those that
    came later (`OverallDeliveryStatus`, item `TaxAmount`...), which a client must not rely on.
    """

    BASELINE = "baseline"
    LATEST = "latest"


@dataclass(frozen=True)
class Property:
    name: str
    type: Edm
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    etag: bool = False  # ConcurrencyMode="Fixed": the entity's ETag is made from it
    latest: bool = False  # only in the LATEST release
    custom: bool = False  # a key-user extension field (YY1_...), absent until a tenant adds it


@dataclass(frozen=True)
class Navigation:
    name: str
    target: str  # the target entity type's name
    many: bool


@dataclass(frozen=True)
class EntityType:
    name: str  # e.g. A_SalesOrderType
    keys: tuple[str, ...]
    properties: tuple[Property, ...]
    navigations: tuple[Navigation, ...] = ()
    _by_name: dict[str, Property] = field(init=False, repr=False, compare=False)
    _navs: dict[str, Navigation] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {p.name: p for p in self.properties})
        object.__setattr__(self, "_navs", {n.name: n for n in self.navigations})
        missing = set(self.keys) - set(self._by_name)
        if missing:
            raise ValueError(f"{self.name}: keys {sorted(missing)} are not properties")

    def property_named(self, name: str) -> Property | None:
        return self._by_name.get(name)

    def navigation_named(self, name: str) -> Navigation | None:
        return self._navs.get(name)

    @property
    def etag_property(self) -> str | None:
        return next((p.name for p in self.properties if p.etag), None)

    def without(self, drop: Iterable[str]) -> EntityType:
        dropped = set(drop)
        kept = tuple(p for p in self.properties if p.name not in dropped)
        return EntityType(self.name, self.keys, kept, self.navigations)


@dataclass(frozen=True)
class Service:
    """One OData service: its namespace (the service name), types and entity sets."""

    name: str
    types: tuple[EntityType, ...]
    entity_sets: Mapping[str, str]  # entity set -> entity type name
    _types: dict[str, EntityType] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_types", {t.name: t for t in self.types})
        for entity_type in self.types:
            for nav in entity_type.navigations:
                if nav.target not in self._types:
                    raise ValueError(f"{entity_type.name}.{nav.name}: no type {nav.target}")
        for entity_set, type_name in self.entity_sets.items():
            if type_name not in self._types:
                raise ValueError(f"entity set {entity_set}: no type {type_name}")

    def entity_type(self, name: str) -> EntityType:
        """A type by its name, with or without the service namespace."""
        return self._types[name.removeprefix(self.name + ".")]

    def set_type(self, entity_set: str) -> EntityType | None:
        type_name = self.entity_sets.get(entity_set)
        return self._types[type_name] if type_name is not None else None

    def set_of(self, type_name: str) -> str | None:
        return next((s for s, t in self.entity_sets.items() if t == type_name), None)

    def variant(self, release: Release, custom_fields: bool) -> Service:
        """The service as a tenant on `release` sees it, with or without the custom fields."""
        types = tuple(
            t.without(
                p.name
                for p in t.properties
                if (p.latest and release is Release.BASELINE) or (p.custom and not custom_fields)
            )
            for t in self.types
        )
        return replace(self, types=types)


# --- the vocabulary `schema` describes services with ----------------------------------------


def text(
    name: str, length: int, *, key: bool = False, latest: bool = False, custom: bool = False
) -> Property:
    return Property(
        name, Edm.STRING, max_length=length, nullable=not key, latest=latest, custom=custom
    )


def decimal(
    name: str, precision: int, scale: int, *, latest: bool = False, custom: bool = False
) -> Property:
    return Property(
        name, Edm.DECIMAL, precision=precision, scale=scale, latest=latest, custom=custom
    )


def date(name: str, precision: int = 0) -> Property:
    """An Edm.DateTime holding a calendar date (SAP's DATS fields)."""
    return Property(name, Edm.DATETIME, precision=precision)


def stamp(name: str, precision: int = 7, *, etag: bool = False) -> Property:
    return Property(name, Edm.DATETIMEOFFSET, precision=precision, etag=etag)


def flag(name: str) -> Property:
    return Property(name, Edm.BOOLEAN)


def version(name: str, length: int) -> Property:
    """A string property the entity's ETag is made from (the delivery's DeliveryVersion)."""
    return Property(name, Edm.STRING, max_length=length, etag=True)


def many(name: str, target: str) -> Navigation:
    return Navigation(name, target, many=True)


def one(name: str, target: str) -> Navigation:
    return Navigation(name, target, many=False)
