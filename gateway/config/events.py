"""The schemas of domain events: a backend's `events:` (how its ERP tells the gateway about
changes) and `policies/subscriptions.yaml` (who receives which events, and the retry schedule).

Not the ingress, the derivation or the delivery (see `gateway.api.erp_events`,
`gateway.service.order_events`, `gateway.ops.event_delivery`); only what the files say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, model_validator

from gateway.config.api_versions import OPTIONAL_VERSION_SCHEMA, OptionalVersion
from gateway.config.base import ConfigModel, EnvName
from gateway.domain.events import EVENT_TYPES
from gateway.domain.versions import VERSIONS


class BackendEvents(ConfigModel):
    """`events:` in a backend file: how the ERP's changes reach the gateway."""

    mode: Annotated[
        Literal["push", "poll"],
        Field(
            description="`push`: the ERP notifies `POST /erp-events/<backend>` (SAP business "
            "events, NetSuite record-change notifications); `poll`: the gateway reads the "
            "orders it knows in that ERP every `poll_interval_s` instead."
        ),
    ] = "push"
    secret_env: Annotated[
        EnvName | None,
        Field(
            description="The environment variable holding the shared secret the ERP "
            "authenticates its notifications with (SAP: `Authorization: Bearer <secret>`; "
            "NetSuite: the HMAC-SHA256 key of `X-Signature`). Required for `push`."
        ),
    ] = None
    poll_interval_s: Annotated[
        float, Field(gt=0, le=86400, description="Seconds between two polls (`poll` mode).")
    ] = 30.0

    @model_validator(mode="after")
    def _push_needs_secret(self) -> BackendEvents:
        if self.mode == "push" and self.secret_env is None:
            raise ValueError("push mode needs secret_env: notifications must be authenticated")
        return self

    def secret(self, env: Mapping[str, str]) -> str:
        """The shared secret its notifications are authenticated with, from `env`; "" where
        there is none (`secret_env` unset or empty there, or no `secret_env`), and then each
        notification is refused."""
        return env.get(self.secret_env or "", "")


# A subscription's id: never a `:`, which ends it in a delivery's id ("<subscription>:<event>").
SUBSCRIPTION_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class SubscriptionConfig(ConfigModel):
    """One webhook subscription (`subscriptions:` list)."""

    id: Annotated[
        str,
        Field(pattern=SUBSCRIPTION_ID_PATTERN, description="Names it in deliveries."),
    ]
    url: Annotated[
        AnyHttpUrl,
        Field(
            description="Where events are POSTed (https; plain http to another host than this "
            "one is warned of)."
        ),
    ]
    client: Annotated[
        str,
        Field(
            min_length=1,
            description="The owning client (policies/clients.yaml): only events of legal "
            "entities it may see are delivered.",
        ),
    ]
    types: Annotated[
        list[str],
        Field(
            min_length=1,
            description=f"Event types, or globs of them (`sales_order.*`); known: "
            f"{', '.join(EVENT_TYPES)}.",
        ),
    ] = ["*"]
    legal_entities: Annotated[
        list[str] | Literal["*"],
        Field(description='Legal entities wanted (within the client\'s), or "*" for all.'),
    ] = "*"
    secret_env: Annotated[
        EnvName,
        Field(
            description="The environment variable holding the signing secret (Standard "
            "Webhooks: `whsec_` and base64)."
        ),
    ]
    previous_secret_env: Annotated[
        EnvName | None,
        Field(
            description="While a secret is rotated: the environment variable holding the "
            "previous signing secret (`whsec_` and base64). Each delivery is signed with both, "
            "`secret_env`'s signature first, so a subscriber verifying with either takes it; "
            "remove it once the subscriber verifies with the new secret."
        ),
    ] = None
    api_version: Annotated[
        OptionalVersion,
        Field(
            description=f"The API version each event's `data` is in ({', '.join(VERSIONS)}; a "
            "sunset one is warned of); absent: its client's pin (clients.yaml), else the "
            "default of api-versions.yaml.",
            json_schema_extra=OPTIONAL_VERSION_SCHEMA,
        ),
    ] = None

    @property
    def secret_envs(self) -> tuple[str, ...]:
        """The variables of the secrets each delivery is signed with, the current first."""
        if self.previous_secret_env is None:
            return (self.secret_env,)
        return (self.secret_env, self.previous_secret_env)


class DeliveryPolicy(ConfigModel):
    """`delivery:`: how deliveries are retried."""

    retry_schedule_s: Annotated[
        list[Annotated[float, Field(ge=0)]],  # each at its own line when refused
        Field(
            min_length=0,
            max_length=20,
            description="The delay before each retry (full jitter: a random delay up to it); "
            "after the last, the delivery is a dead letter.",
        ),
    ] = [5, 30, 120, 600, 1800, 7200, 21600]
    timeout_s: Annotated[
        float, Field(gt=0, le=60, description="Seconds a subscriber has to answer.")
    ] = 10.0
    max_retry_after_s: Annotated[
        float,
        Field(
            ge=0,
            le=86400,
            description="The longest wait a subscriber's `Retry-After` (on a 429 or 503) "
            "imposes before the next try: the later of it and the schedule's delay counts, "
            "up to this (a subscriber cannot park its deliveries for ever).",
        ),
    ] = 3600.0
    lease_s: Annotated[
        float,
        Field(
            gt=0,
            le=600,
            description="Seconds one gateway process holds a subscriber it is sending to; "
            "another takes it over only after that (longer than `timeout_s`).",
        ),
    ] = 60.0

    @model_validator(mode="after")
    def _lease_outlasts_timeout(self) -> DeliveryPolicy:
        if self.lease_s <= self.timeout_s:
            raise ValueError("lease_s must be longer than timeout_s (a delivery is sent once)")
        return self


class SubscriptionsPolicy(ConfigModel):
    """`policies/subscriptions.yaml` (optional): webhook subscriptions to domain events."""

    subscriptions: Annotated[
        list[SubscriptionConfig], Field(description="Who receives which events.")
    ] = []
    delivery: Annotated[DeliveryPolicy, Field(description="Retries and leases.")] = DeliveryPolicy()
