"""How far an admin client reaches: each admin route declares whether it is about the gateway
as a whole or about legal entities' records, and an admin client of some legal entities
(`legal_entities` in clients.yaml) is held to its own.

Not the `gateway:admin` scope check (see `gateway.pipeline.entitlements`) nor the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.domain.errors import Code, GatewayError


class Reach(StrEnum):
    """What an admin route is about, declared beside it in its route table."""

    # The gateway as a whole (its configuration, audit trail, backends, subscriptions): for an
    # admin client of every legal entity (`legal_entities: "*"`) only.
    GLOBAL = "global"
    # Legal entities' records: an admin client of some sees and acts for its own only, which
    # the handler applies with `AdminCaller` (listings narrowed, other records not found).
    # A route that cannot narrow yet is declared GLOBAL: closed to such a client, which is safe.
    ENTITY = "entity"


@dataclass(frozen=True)
class AdminCaller:
    """The admin client of a request: its id (the audit trail's actor) and its legal entities
    (None: every one)."""

    client_id: str
    legal_entities: frozenset[str] | None

    def sees(self, legal_entity: str | None) -> bool:
        """Whether its records of `legal_entity` are this client's to see; a record of no
        legal entity is not a regional operator's."""
        if self.legal_entities is None:
            return True
        return legal_entity is not None and legal_entity in self.legal_entities

    def require_entity(self, legal_entity: str) -> None:
        """403 for a request naming a legal entity this client may not act for, worded as the
        domain API's refusal (`gateway.pipeline.entitlements.Entitle`)."""
        if not self.sees(legal_entity):
            raise GatewayError(
                Code.FORBIDDEN, f"This client may not act for legal entity {legal_entity}."
            )

    def require_reach(self, reach: Reach) -> None:
        """403 for a route about more than this client's legal entities."""
        if reach is Reach.ENTITY or self.legal_entities is None:
            return
        raise GatewayError(
            Code.FORBIDDEN,
            "This operation is about the whole gateway: it needs an admin client of every "
            'legal entity (`legal_entities: "*"` in policies/clients.yaml).',
        )
