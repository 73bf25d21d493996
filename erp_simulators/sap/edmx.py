"""A service's `$metadata` document: the EDMX (CSDL v2) of its entity types, associations and
entity container, laid out as SAP Gateway lays it out.

Not the model itself (see `edm`, `schema`): this only renders it, once per service variant.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from erp_simulators.sap.edm import EntityType, Navigation, Property, Service

_NAMESPACES = (
    'xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
    'xmlns:sap="http://www.sap.com/Protocols/SAPData"'
)


def edmx(service: Service) -> str:
    """The whole `$metadata` document of `service`."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<edmx:Edmx Version="1.0" {_NAMESPACES}>',
        '<edmx:DataServices m:DataServiceVersion="2.0">',
        f'<Schema Namespace={quoteattr(service.name)} xml:lang="en" sap:schema-version="1" '
        'xmlns="http://schemas.microsoft.com/ado/2008/09/edm">',
    ]
    parts.extend(_entity_type(service, t) for t in service.types)
    parts.extend(_association(service, t, n) for t in service.types for n in t.navigations)
    parts.append(
        f"<EntityContainer Name={quoteattr(service.name + '_Entities')} "
        'm:IsDefaultEntityContainer="true" sap:supported-formats="atom json xlsx">'
    )
    parts.extend(
        f"<EntitySet Name={quoteattr(name)} "
        f'EntityType={quoteattr(service.name + "." + type_name)} sap:content-version="1"/>'
        for name, type_name in service.entity_sets.items()
    )
    parts.extend(_association_set(service, t, n) for t in service.types for n in t.navigations)
    parts.append("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")
    return "".join(parts)


def _entity_type(service: Service, entity_type: EntityType) -> str:
    keys = "".join(f"<PropertyRef Name={quoteattr(k)}/>" for k in entity_type.keys)
    properties = "".join(_property(p) for p in entity_type.properties)
    navigations = "".join(
        f"<NavigationProperty Name={quoteattr(n.name)} "
        f"Relationship={quoteattr(service.name + '.' + _association_name(entity_type, n))} "
        f'FromRole="FromRole_{_association_name(entity_type, n)}" '
        f'ToRole="ToRole_{_association_name(entity_type, n)}"/>'
        for n in entity_type.navigations
    )
    return (
        f'<EntityType Name={quoteattr(entity_type.name)} sap:content-version="1">'
        f"<Key>{keys}</Key>{properties}{navigations}</EntityType>"
    )


def _property(prop: Property) -> str:
    attributes = [f"Name={quoteattr(prop.name)}", f'Type="{prop.type.value}"']
    if not prop.nullable:
        attributes.append('Nullable="false"')
    if prop.max_length is not None:
        attributes.append(f'MaxLength="{prop.max_length}"')
    if prop.precision is not None:
        attributes.append(f'Precision="{prop.precision}"')
    if prop.scale is not None:
        attributes.append(f'Scale="{prop.scale}"')
    if prop.etag:
        attributes.append('ConcurrencyMode="Fixed"')
    return f"<Property {' '.join(attributes)}/>"


def _association_name(source: EntityType, navigation: Navigation) -> str:
    return f"assoc_{source.name.removesuffix('Type')}_{navigation.name}"


def _association(service: Service, source: EntityType, navigation: Navigation) -> str:
    name = _association_name(source, navigation)
    target = service.entity_type(navigation.target)
    return (
        f'<Association Name="{name}" sap:content-version="1">'
        f'<End Type="{service.name}.{source.name}" Multiplicity="1" Role="FromRole_{name}"/>'
        f'<End Type="{service.name}.{target.name}" '
        f'Multiplicity="{"*" if navigation.many else "0..1"}" Role="ToRole_{name}"/>'
        "</Association>"
    )


def _association_set(service: Service, source: EntityType, navigation: Navigation) -> str:
    name = _association_name(source, navigation)
    source_set = service.set_of(source.name)
    target_set = service.set_of(navigation.target)
    if source_set is None or target_set is None:
        return ""
    return (
        f'<AssociationSet Name="{name}_Set" Association="{service.name}.{name}" '
        'sap:creatable="false" sap:updatable="false" sap:deletable="false" '
        'sap:content-version="1">'
        f'<End EntitySet="{source_set}" Role="FromRole_{name}"/>'
        f'<End EntitySet="{target_set}" Role="ToRole_{name}"/>'
        "</AssociationSet>"
    )
