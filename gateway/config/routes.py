"""The schema of `routes.yaml`: legal-entity reference data, ordered routing rules (each may
hold for a window of time), freezes, the default backend and customer replication.

Not the matching (see `gateway.routing.rules`) and not cross-file checks (see `lint.py`).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.config.base import ConfigModel, off_as_written
from gateway.domain.models import CountryCode, CurrencyCode, LegalEntityCode, no_number


def _within_utc_years(moment: dt.datetime, info: ValidationInfo) -> dt.datetime:
    # RFC 3339 allows 9999-12-31T23:59:59-05:00, which is in year 10000 in UTC: past what the
    # routing table (and every message that names the instant) can hold.
    try:
        moment.astimezone(dt.UTC)
    except OverflowError:
        forever = " (a rule without effective_until holds for good)"
        raise ValueError(
            "must fall within the years 0001 to 9999 in UTC"
            + (forever if info.field_name == "effective_until" else "")
        ) from None
    return moment


_RFC3339_TIME = "an RFC 3339 time with an offset, e.g. 2026-12-01T06:00:00Z"


def _with_offset(value: object) -> object:
    """A time that says its offset: YAML reads `2026-12-01` as a date and `2026-12-01T06:00:00`
    as a time of no zone, which pydantic refuses saying only "Input should have timezone info"
    (and no text is left to show what was written). A wave must not move at a second that
    depends on the server's zone."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        raise ValueError(
            f"must be {_RFC3339_TIME}: a date alone (YAML reads it so) names no second nor offset"
        )
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value  # no time at all: pydantic says so
    else:
        return value
    if moment.tzinfo is None:
        raise ValueError(f"must be {_RFC3339_TIME}: it has no offset")
    return value


Rfc3339Time = Annotated[
    AwareDatetime,
    no_number(_RFC3339_TIME),
    BeforeValidator(_with_offset),
    AfterValidator(_within_utc_years),
]
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]
BACKEND_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"  # also the stem of backends/<name>.yaml
BackendName = Annotated[str, Field(pattern=BACKEND_NAME_PATTERN, max_length=64)]
RegionCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_-]*$", max_length=16)]
OperationGlob = Annotated[str, Field(pattern=r"^[a-z_.*?\[\]!-]+$", max_length=64)]
Percent = Annotated[
    float,
    Field(ge=0, le=100, multiple_of=0.01, description="A share in percent, to 0.01 %."),
]
# A shadow's evidence bar by default: a match rate of fewer comparable samples, or of fewer
# distinct records, is "not enough evidence". 100 samples that all match put the mismatch
# rate under 3 % (95 % confidence); 30 records keep one odd customer from passing for many.
MIN_COMPARABLE = 100
MIN_RECORDS = 30


class LegalEntityRef(ConfigModel):
    """One legal entity's reference facts (`legal_entities:` in routes.yaml)."""

    name: Annotated[
        str,
        Field(min_length=1, max_length=120, description="The legal entity's name, for people."),
    ]
    region: Annotated[
        RegionCode,
        Field(description="Its region (e.g. NA, EMEA, APAC): what a rule's `regions:` matches."),
    ]
    country: Annotated[CountryCode, Field(description="Its country, ISO 3166-1 alpha-2.")]
    currency: Annotated[CurrencyCode, Field(description="Its currency, ISO 4217.")]


class RuleMatch(ConfigModel):
    """What a rule matches: every given key must match (AND); within a key, any value (OR).

    An absent key matches everything; operations are glob patterns over operation names.
    """

    operations: Annotated[
        Annotated[list[OperationGlob], Field(min_length=1)] | None,
        Field(description="Operation globs, e.g. `sales_orders.*` or `*`; absent: every one."),
    ] = None
    regions: Annotated[
        Annotated[list[RegionCode], Field(min_length=1)] | None,
        Field(description="Regions of `legal_entities:`; absent: every region."),
    ] = None
    legal_entities: Annotated[
        Annotated[list[LegalEntityCode], Field(min_length=1)] | None,
        Field(description="Legal entity codes of `legal_entities:`; absent: every one."),
    ] = None


DottedGlob = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.*?\[\]!-]+$", max_length=200)]


class Tolerance(ConfigModel):
    """How far a number may drift between the two answers and still match: within `absolute`
    or within `relative` (a fraction of the larger), whichever is wider."""

    absolute: Annotated[float, Field(ge=0, description="A difference up to this matches.")] = 0.0
    relative: Annotated[
        float, Field(ge=0, le=1, description="A difference up to this share matches (0.001).")
    ] = 0.0
    fields: Annotated[
        list[DottedGlob],
        Field(min_length=1, description="Globs over dotted paths it applies to; all by default."),
    ] = ["*"]


class Shadow(ConfigModel):
    """Shadow traffic for what the rule matches: a sample of requests is also answered by
    another backend, off the request path, and both answers compared in canonical form. The
    client always gets the primary's answer."""

    backend: Annotated[BackendName, Field(description="The backend that answers in the shadow.")]
    sample: Annotated[
        float, Field(ge=0, le=1, description="The share of requests shadowed (0.25: a quarter).")
    ]
    operations: Annotated[
        list[OperationGlob],
        Field(
            min_length=1,
            description="Operation globs shadowed, within the rule's. Reads: customers.read, "
            "sales_orders.read, quotes.validate; the one write: sales_orders.create (through the "
            "legacy ERP's sales-order simulation, or a backend marked `sandbox: true`).",
        ),
    ]
    ignore: Annotated[
        list[DottedGlob],
        Field(description="Globs over dotted paths of the canonical answer never compared."),
    ] = []
    tolerance: Annotated[Tolerance, Field(description="Numeric tolerance; exact by default.")] = (
        Tolerance()
    )
    noise_sample: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="The share of shadowed requests whose primary is called a second time "
            "to learn which fields differ between two calls to the same ERP (noise).",
        ),
    ] = 0.1
    timeout_s: Annotated[
        float, Field(gt=0, le=60, description="The whole shadow sample's deadline, in seconds.")
    ] = 5.0
    max_in_flight: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="Shadow samples running at once per process; beyond, a sample is "
            "skipped and counted.",
        ),
    ] = 8
    min_comparable: Annotated[
        int,
        Field(
            ge=1,
            le=1_000_000,
            description="The comparable samples of an operation in a legal entity below which "
            "the shadow report calls its evidence not enough, however well they match.",
        ),
    ] = MIN_COMPARABLE
    min_records: Annotated[
        int,
        Field(
            ge=1,
            le=10_000,
            description="The distinct records those samples must have compared (customers; "
            "orders, for sales_orders.read) before the evidence is enough: many samples of a "
            "few customers are no breadth.",
        ),
    ] = MIN_RECORDS


class RouteRule(ConfigModel):
    """One routing rule (`rules:` in routes.yaml, in order; the first match wins). With
    `effective_from` and/or `effective_until` (RFC 3339 with an offset), it matches only from
    that second (inclusive) until that second (exclusive): a wave, at a scheduled time."""

    id: Annotated[
        RuleId, Field(description="A unique id, shown by `gateway explain` and in metrics.")
    ]
    description: Annotated[str | None, Field(description="Why the rule exists, for people.")] = None
    match: Annotated[
        RuleMatch,
        Field(description="What the rule matches; every given key must match. Absent: all."),
    ] = RuleMatch()
    backend: Annotated[
        BackendName | None,
        Field(
            description="Where what matches goes: a file name under backends/, no `.yaml`. "
            "A rule has `backend` or `split`."
        ),
    ] = None
    split: Annotated[
        dict[BackendName, Percent] | None,
        Field(
            description="A canary: backend -> percent of customers (summing to 100), instead "
            "of `backend`. Each customer is hashed into one bucket (its gateway id; a new "
            "customer's external_ref), so its requests never alternate; the first backend "
            "listed takes the lowest buckets, so raising its share keeps the customers it had."
        ),
    ] = None
    shadow: Annotated[
        Shadow | None,
        Field(description="Evidence before a move: shadow a sample to another backend."),
    ] = None
    effective_from: Annotated[
        Rfc3339Time | None,
        Field(description="From this second on (RFC 3339 with an offset) the rule matches."),
    ] = None
    effective_until: Annotated[
        Rfc3339Time | None,
        Field(description="From this second on (RFC 3339 with an offset) it no longer matches."),
    ] = None

    @model_validator(mode="after")
    def _window_in_order(self) -> RouteRule:
        start, end = self.effective_from, self.effective_until
        if start is not None and end is not None and end <= start:
            raise ValueError("effective_until must be after effective_from")
        if self.backend is None and self.split is None:
            raise ValueError("missing key 'backend' (or 'split', for a canary)")
        if self.backend is not None and self.split is not None:
            raise ValueError("both 'backend' and 'split': a rule has one of them")
        return self

    @field_validator("split")
    @classmethod
    def _shares_make_a_whole(cls, split: dict[str, float] | None) -> dict[str, float] | None:
        if split is None:
            return None
        if len(split) < 2:
            raise ValueError("a split names at least two backends (else use `backend`)")
        total = sum(split.values())
        if abs(total - 100) > 1e-6:
            raise ValueError(f"its percentages sum to {total:g}, not 100")
        return split

    @property
    def targets(self) -> tuple[str, ...]:
        """Every backend the rule may send a request to."""
        return (self.backend,) if self.backend is not None else tuple(self.split or {})


class Freeze(ConfigModel):
    """A window in which writes for some legal entities are refused (503, retryable), e.g.
    while a cutover runs (`freezes:` in routes.yaml). Reads are never frozen."""

    model_config = ConfigModel.model_config | {"populate_by_name": True}

    id: Annotated[RuleId, Field(description="A unique id, shown in explain and in the problem.")]
    legal_entities: Annotated[
        list[LegalEntityCode],
        Field(min_length=1, description="The legal entities whose writes are frozen."),
    ]
    operations: Annotated[
        list[OperationGlob] | None,
        Field(
            min_length=1,
            description="Globs over operation names; they freeze the writes and quotes.validate "
            "they match, never a read; absent: every write operation.",
        ),
    ] = None
    starts: Annotated[
        Rfc3339Time,
        Field(alias="from", description="The second the freeze starts (RFC 3339, offset)."),
    ]
    ends: Annotated[
        Rfc3339Time,
        Field(alias="until", description="The second it ends (RFC 3339, offset); Retry-After."),
    ]
    reason: Annotated[
        str,
        Field(
            min_length=1,
            max_length=300,
            description="Why, in words a CRM user can act on: the problem's detail.",
        ),
    ]

    @model_validator(mode="after")
    def _window_in_order(self) -> Freeze:
        if self.ends <= self.starts:
            raise ValueError("until must be after from")
        return self


class Replication(StrEnum):
    """What an order for a customer absent from the ERP it is routed to does."""

    ON_DEMAND = "on_demand"  # copy the customer there first, once, then submit the order
    OFF = "off"  # 422 customer_not_found: migrate the customer first


class RoutesConfig(ConfigModel):
    """`routes.yaml`: which ERP is the system of record for new requests.

    Legal-entity reference data, ordered routing rules (the first match wins, each for its
    window of time), freezes, the backend for everything no rule matches, and whether customers
    are copied on demand to the ERP an order goes to.
    """

    legal_entities: Annotated[
        dict[LegalEntityCode, LegalEntityRef],
        Field(min_length=1, description="Legal entity code -> name, region, country, currency."),
    ]
    rules: Annotated[
        list[RouteRule], Field(description="Routing rules, in order; the first match wins.")
    ] = []
    default_backend: Annotated[
        BackendName,
        Field(description="Where what no rule matches goes: a file name under backends/."),
    ]
    freezes: Annotated[
        list[Freeze], Field(description="Windows in which writes are refused (503, retryable).")
    ] = []
    replicate_customers: Annotated[
        Replication,
        BeforeValidator(off_as_written),
        Field(
            description="on_demand: an order's customer is copied to the ERP the order goes to "
            "if absent there; off: such an order is 422 customer_not_found."
        ),
    ] = Replication.ON_DEMAND
