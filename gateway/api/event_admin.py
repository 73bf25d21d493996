"""Operator endpoints for domain events (scope `gateway:admin`): the webhook deliveries that
exhausted their retries (dead letters), and their replay; the subscriptions, each enabled or
disabled (its subscriber answered 410 Gone), and their enabling.

Not the sending (see `gateway.ops.event_delivery`); a replayed dead letter is due at once and
gets the whole retry schedule again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Annotated

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api.admin import admin_caller, admin_endpoint
from gateway.api.admin_reach import Reach
from gateway.config.events import SUBSCRIPTION_ID_PATTERN
from gateway.domain.errors import bad_cursor, echoed, not_found
from gateway.domain.events import LEGAL_ENTITY_EXTENSION, MAX_DEAD_LETTERS
from gateway.domain.models import Strict
from gateway.observability.client_address import client_ip
from gateway.observability.event_metrics import WEBHOOK_DELIVERIES
from gateway.pipeline.body import parse_query_model
from gateway.routing.rules import rfc3339
from gateway.runtime import Runtime
from gateway.store.events import BadCursor, Delivery
from gateway.store.subscription_states import Disabled, disabled_at

# A dead letter's id is its subscription's (up to 63 characters) and its event's, joined by a
# colon: the most of one a 404 repeats is longer than any, so a real one is shown whole.
MAX_DELIVERY_ID_LENGTH = 128


class DeadLetterQuery(Strict):
    model_config = Strict.model_config | {"strict": False}
    cursor: Annotated[str, Field(min_length=1, max_length=400)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_DEAD_LETTERS)] = 100
    subscription: Annotated[str, Field(pattern=SUBSCRIPTION_ID_PATTERN)] | None = None


def event_admin_routes(
    current: Callable[[], Runtime], replayed: Callable[[], None] | None = None
) -> list[Route]:
    """`GET /admin/events/dead-letters` (a page at a time: `next_cursor`; all, or one
    subscription's) and `POST /admin/events/dead-letters/{id}/replay`;
    `GET /admin/events/subscriptions` and `POST /admin/events/subscriptions/{id}/enable`;
    `replayed` wakes this process's delivery worker."""

    async def dead_letters(request: Request) -> Response:
        asked = parse_query_model(request, DeadLetterQuery)
        runtime = current()
        try:
            page = await runtime.store.events.dead_letters(
                asked.cursor, asked.limit, asked.subscription
            )
        except BadCursor:
            raise bad_cursor(
                "/cursor", "Use next_cursor from the previous page, as it was."
            ) from None
        caller = admin_caller(request)
        if (
            asked.subscription is not None
            and asked.cursor is None
            and not page.items
            and caller.legal_entities is None
            and not _configured(runtime, asked.subscription)
        ):
            # Not configured (any more) and none of its dead letters kept: no such thing. One
            # removed from the configuration is listed while its dead letters are kept. To an
            # operator of some entities, who may not list the subscriptions, an id that is none
            # is one without dead letters of its own (an empty page): a 404 would tell which
            # ids there are.
            raise not_found(
                f"No subscription {echoed(asked.subscription)} (nor dead letters of one)."
            )
        # Another entity's are left out of the page, not the walk: its `next_cursor` still goes
        # on past them, so a page may hold fewer than `limit` (none) and have a next one.
        items = [
            {
                "id": d.id,
                "subscription": d.subscription,
                "event_id": d.event_id,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "event": json.loads(d.body),
            }
            for d in page.items
            if caller.sees(_legal_entity_of(d))
        ]
        return JSONResponse({"items": items, "next_cursor": page.next_cursor})

    async def replay(request: Request) -> Response:
        delivery = request.path_params["id"]
        runtime = current()
        caller = admin_caller(request)
        if caller.legal_entities is not None:
            # Another entity's dead letter is as one there is not.
            letter = await runtime.store.events.dead_letter_of(delivery)
            if letter is None or not caller.sees(_legal_entity_of(letter)):
                raise not_found(f"No dead letter {echoed(delivery, MAX_DELIVERY_ID_LENGTH)}.")
        if not await runtime.store.events.replay_dead_letter(delivery, time.time()):
            raise not_found(f"No dead letter {echoed(delivery, MAX_DELIVERY_ID_LENGTH)}.")
        runtime.audit.record(
            "events.dead_letter.replayed",
            request.state.actor,
            {"delivery": delivery},
            client_ip(request.scope),
        )
        WEBHOOK_DELIVERIES.labels(delivery.split(":", 1)[0], "replayed").inc()
        if replayed is not None:
            replayed()
        return JSONResponse({"id": delivery, "status": "due"}, status_code=202)

    async def subscriptions(request: Request) -> Response:
        runtime = current()
        configured = runtime.config.subscriptions.subscriptions
        records, dead_letters = await asyncio.gather(
            runtime.store.subscriptions.disabled(),
            runtime.store.events.dead_letter_counts([s.id for s in configured]),
        )
        items = []
        for subscription in configured:
            url = str(subscription.url)
            disabled = disabled_at(records, subscription.id, url)
            items.append(
                {
                    "id": subscription.id,
                    "url": url,
                    "client": subscription.client,
                    "state": "enabled" if disabled is None else "disabled",
                    "disabled": None if disabled is None else _disabled_json(disabled),
                    "dead_letters": dead_letters[subscription.id],
                }
            )
        return JSONResponse({"items": items})

    async def enable(request: Request) -> Response:
        subscription = request.path_params["id"]
        runtime = current()
        configured = _configured(runtime, subscription)
        was_disabled = await runtime.store.subscriptions.enable(subscription)
        if not (configured or was_disabled):
            raise not_found(f"No subscription {echoed(subscription)}.")
        runtime.audit.record(
            "events.subscription.enabled",
            request.state.actor,
            {"subscription": subscription, "was_disabled": was_disabled},
            client_ip(request.scope),
        )
        return JSONResponse({"id": subscription, "state": "enabled"})

    # What each route is about (`Reach`): an admin client of some legal entities reaches the
    # ENTITY ones (dead letters: events of its entities' orders), for its entities only.
    return [
        Route(
            "/admin/events/dead-letters",
            admin_endpoint(dead_letters, current, Reach.ENTITY),
            methods=["GET"],
        ),
        Route(
            "/admin/events/dead-letters/{id}/replay",
            admin_endpoint(replay, current, Reach.ENTITY),
            methods=["POST"],
        ),
        Route(
            "/admin/events/subscriptions",
            admin_endpoint(subscriptions, current, Reach.GLOBAL),
            methods=["GET"],
        ),
        Route(
            "/admin/events/subscriptions/{id}/enable",
            admin_endpoint(enable, current, Reach.GLOBAL),
            methods=["POST"],
        ),
    ]


def _configured(runtime: Runtime, subscription: str) -> bool:
    return any(s.id == subscription for s in runtime.config.subscriptions.subscriptions)


def _disabled_json(disabled: Disabled) -> dict[str, object]:
    return {"at": rfc3339(disabled.at), "status": disabled.status, "url": disabled.url}


def _legal_entity_of(letter: Delivery) -> str | None:
    """The legal entity of the order whose event the dead letter carries."""
    entity = json.loads(letter.body).get(LEGAL_ENTITY_EXTENSION)
    return entity if isinstance(entity, str) else None
