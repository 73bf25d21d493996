"""Entitlement steps: which operations and legal entities a client may act for.

Not authentication (see `auth.py`; it trusts the client id the token carried) nor the policy
file's schema (see `gateway.config.clients`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass

from starlette.responses import Response

from gateway.config.auth import AuthPolicy
from gateway.config.clients import ClientsPolicy
from gateway.domain.errors import Code, GatewayError
from gateway.domain.operations import REQUIRED_SCOPE
from gateway.observability.metrics import AUTH_FAILURES_BY
from gateway.pipeline.auth import AuthFailure
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import Principal, RequestContext
from gateway.pipeline.records import no_record

log = logging.getLogger("gateway.auth")

_CHALLENGE = 'Bearer realm="gateway", error="insufficient_scope", scope="{scope}"'


@dataclass(frozen=True)
class Entitlement:
    """A client's compiled rights: scopes, legal entities (None: all) and rate-limit tier, and
    the issuer (its `iss`) whose tokens speak for it (None: the one issuer trusted)."""

    client_id: str
    scopes: frozenset[str]
    legal_entities: frozenset[str] | None
    tier: str
    issuer: str | None = None

    def may_act_for(self, legal_entity: str) -> bool:
        return self.legal_entities is None or legal_entity in self.legal_entities


# What a client bound to an issuer that auth.yaml does not define is bound to: no token's `iss`.
# (`gateway check` refuses such a file; this keeps a client from being open to every issuer.)
_NO_ISSUER = ""


def compile_entitlements(
    policy: ClientsPolicy, auth: AuthPolicy | None = None
) -> dict[str, Entitlement]:
    issuers = {i.name: i.issuer for i in auth.issuers} if auth is not None else {}
    return {
        c.id: Entitlement(
            c.id,
            frozenset(c.scopes),
            None if c.legal_entities == "*" else frozenset(c.legal_entities),
            c.rate_limit,
            issuers.get(c.issuer, _NO_ISSUER) if c.issuer is not None else None,
        )
        for c in policy.clients
    }


def insufficient_scope(scope: str) -> GatewayError:
    return GatewayError(
        Code.FORBIDDEN,
        f"This client is not allowed to do this (needs scope `{scope}`).",
        headers={"WWW-Authenticate": _CHALLENGE.format(scope=scope)},
    )


def registered(entitlements: Mapping[str, Entitlement], principal: Principal) -> Entitlement:
    """The caller's entitlement; a token for a client not in clients.yaml gets 403, and so does
    one from an issuer other than the client's (as if it named no client of the gateway's:
    another issuer's tokens may name a client id that happens to be the same)."""
    entitlement = entitlements.get(principal.client_id)
    if entitlement is not None and entitlement.issuer not in (None, principal.issuer):
        log.warning(
            "token of another issuer",
            extra={
                "client_id": principal.client_id,
                "issuer": principal.issuer,
                "client_issuer": entitlement.issuer,
            },
        )
        entitlement = None
    if entitlement is None:
        AUTH_FAILURES_BY.labels(AuthFailure.UNKNOWN_CLIENT).inc()
        raise GatewayError(Code.FORBIDDEN, "This client is not registered with the gateway.")
    return entitlement


def grants(principal: Principal, entitlement: Entitlement, scope: str) -> bool:
    """Whether both the client's policy and (when it has a scope claim) its token grant `scope`.

    A token with an empty scope claim grants nothing; only a token without one defers to the
    policy."""
    token_grants = principal.scopes is None or scope in principal.scopes
    return scope in entitlement.scopes and token_grants


def require_scope(principal: Principal, entitlement: Entitlement, scope: str) -> None:
    """403 unless both the client's policy and (when it has a scope claim) its token grant it."""
    if not grants(principal, entitlement, scope):
        raise insufficient_scope(scope)


class Authorize:
    """Pipeline step, before any record is looked up: the client is registered and may perform
    the operation (sets `ctx.entitlement`). Deciding this first means a refusal never depends on
    whether an id exists."""

    def __init__(self, entitlements: Mapping[str, Entitlement]) -> None:
        self._entitlements = entitlements

    def __call__(self, ctx: RequestContext, call_next: Handler) -> Awaitable[Response]:
        principal = ctx.principal
        assert principal is not None, "auth runs before authorization"
        entitlement = registered(self._entitlements, principal)
        ctx.entitlement = entitlement  # a refusal for want of a scope counts against its rate
        require_scope(principal, entitlement, REQUIRED_SCOPE[ctx.spec.operation])
        return call_next(ctx)  # nothing to do on the way out (see `Step`)


class Entitle:
    """Pipeline step, once the legal entity is known: the client may act for it.

    A write for a legal entity the client may not act for is 403; a record in a legal entity it
    may not see is 404, like a record that does not exist, so that existence is not leaked.
    """

    def __call__(self, ctx: RequestContext, call_next: Handler) -> Awaitable[Response]:
        legal_entity = ctx.legal_entity
        entitlement = ctx.entitlement
        assert entitlement is not None, "authorization runs before entitlements"
        if legal_entity is not None and not entitlement.may_act_for(legal_entity):
            if ctx.record is not None:
                raise no_record(ctx.record.kind, ctx.record.gateway_id)
            raise GatewayError(
                Code.FORBIDDEN, f"This client may not act for legal entity {legal_entity}."
            )
        return call_next(ctx)  # nothing to do on the way out (see `Step`)
