"""Entitlements step: which operations and legal entities a client may act for.

Not authentication (see `auth.py`); it trusts the client id the token carried.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from gateway.api.versions import VERSIONS
from gateway.domain.errors import Code, GatewayError, not_found
from gateway.domain.operations import Operation
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import Principal, RequestContext


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClientConfig(_Model):
    """One API client (`policies/clients.yaml`, `clients:` list)."""

    id: Annotated[str, Field(min_length=1, max_length=128)]
    description: str | None = None
    scopes: list[str] = []
    legal_entities: list[str] | Literal["*"] = "*"
    rate_limit: Annotated[str, Field(min_length=1)]
    api_version: str | None = None  # the version of unversioned paths for this client

    @field_validator("api_version")
    @classmethod
    def _known_version(cls, version: str | None) -> str | None:
        if version is not None and version not in VERSIONS:
            raise ValueError(f"unknown API version; supported: {', '.join(VERSIONS)}")
        return version


class ClientsPolicy(_Model):
    """`policies/clients.yaml`."""

    clients: list[ClientConfig]


# -- behaviour -----------------------------------------------------------------------------

ADMIN_SCOPE = "gateway:admin"
_CHALLENGE = 'Bearer realm="gateway", error="insufficient_scope", scope="{scope}"'

# The scope each operation needs; the closed list of operations lives in gateway.domain.
REQUIRED_SCOPE: dict[str, str] = {
    Operation.CUSTOMERS_CREATE: "customers:write",
    Operation.CUSTOMERS_READ: "customers:read",
    Operation.SALES_ORDERS_CREATE: "sales_orders:write",
    Operation.SALES_ORDERS_READ: "sales_orders:read",
    Operation.SALES_ORDERS_CANCEL: "sales_orders:write",
    Operation.INVOICES_READ: "invoices:read",
    Operation.SHIPMENTS_READ: "shipments:read",
    Operation.QUOTES_VALIDATE: "quotes:write",
}


@dataclass(frozen=True)
class Entitlement:
    """A client's compiled rights: scopes, legal entities (None: all) and rate-limit tier."""

    client_id: str
    scopes: frozenset[str]
    legal_entities: frozenset[str] | None
    tier: str

    def may_act_for(self, legal_entity: str) -> bool:
        return self.legal_entities is None or legal_entity in self.legal_entities


def compile_entitlements(policy: ClientsPolicy) -> dict[str, Entitlement]:
    return {
        c.id: Entitlement(
            c.id,
            frozenset(c.scopes),
            None if c.legal_entities == "*" else frozenset(c.legal_entities),
            c.rate_limit,
        )
        for c in policy.clients
    }


def insufficient_scope(scope: str) -> GatewayError:
    return GatewayError(
        Code.FORBIDDEN,
        f"This client is not allowed to do this (needs scope `{scope}`).",
        headers={"WWW-Authenticate": _CHALLENGE.format(scope=scope)},
    )


def entitlement_for(ctx: RequestContext) -> Entitlement:
    """The calling client's entitlement; a token for an unregistered client gets 403."""
    principal = ctx.principal
    assert principal is not None, "auth runs before entitlements"
    return registered(ctx.runtime.entitlements, principal)


def registered(entitlements: Mapping[str, Entitlement], principal: Principal) -> Entitlement:
    entitlement = entitlements.get(principal.client_id)
    if entitlement is None:
        raise GatewayError(Code.FORBIDDEN, "This client is not registered with the gateway.")
    return entitlement


def require_scope(principal: Principal, entitlement: Entitlement, scope: str) -> None:
    """403 unless both the client's policy and (when it carries scopes) its token grant `scope`."""
    if scope not in entitlement.scopes or (principal.scopes and scope not in principal.scopes):
        raise insufficient_scope(scope)


class Authorize:
    """Pipeline step, before any record is looked up: the client is registered and may perform
    the operation. Deciding this first means a refusal never depends on whether an id exists."""

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        assert ctx.principal is not None, "auth runs before authorization"
        require_scope(ctx.principal, entitlement_for(ctx), REQUIRED_SCOPE[ctx.spec.operation])
        return await call_next(ctx)


class Entitle:
    """Pipeline step, once the legal entity is known: the client may act for it.

    A write for a legal entity the client may not act for is 403; a record in a legal entity it
    may not see is 404, like a record that does not exist, so that existence is not leaked.
    """

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        legal_entity = ctx.legal_entity
        if legal_entity is not None and not entitlement_for(ctx).may_act_for(legal_entity):
            if ctx.record is not None:
                raise not_found()
            raise GatewayError(
                Code.FORBIDDEN, f"This client may not act for legal entity {legal_entity}."
            )
        return await call_next(ctx)
