"""Hypothesis strategies for ERP answers: any JSON, bytes that are no JSON, and plausible answers
(a valid sample with fields deleted or replaced at any depth), with the statuses ERPs send; and
how a fuzz test runs one adapter operation on them.

Not the fuzz tests themselves (`sap/test_fuzz.py`, `netsuite/test_fuzz.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Deterministic and quick enough for every `make test`: a fixed derandomized run per test.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Values that sit on the edges the mappings care about: empty, zero, exponents, dates, codes.
_EDGES = st.sampled_from(
    [
        "",
        "0",
        "-1",
        "3.000",
        "19.99",
        "1E+999999999",
        "NaN",
        "-Infinity",
        "/Date(1797292800000)/",
        "/Date(999999999999999999)/",
        "/Date(-99999999999999)/",
        "2026-12-15",
        "9999-99-99",
        "A",
        "B",
        "C",
        "G",
        "Pending Fulfillment",
        "Billed",
        "Paid In Full",
        "FG-WIDGET1",
        "1001",
        "2",
        "4",
    ]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | _EDGES
)
JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=24,
)
_NOT_JSON = st.sampled_from(
    [
        b"",
        b"null",
        b'{"d": {"results": [',
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b'{"total": NaN}',
        b'{"total": Infinity}',
        b"[" * 5_000,  # deeper than Python's parser goes
        b"\xff\xfe\x00garbage",
    ]
)
_ACTIONS = st.sampled_from(("keep", "keep", "keep", "descend", "descend", "delete", "replace"))


@st.composite
def mutated(draw: st.DrawFn, sample: Any) -> Any:
    """`sample` with some of its fields, at any depth, deleted or replaced by any JSON value."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            result = {}
            for key, child in value.items():
                action = draw(_ACTIONS)
                if action == "delete":
                    continue
                if action == "replace":
                    result[key] = draw(JSON)
                else:
                    result[key] = walk(child) if action == "descend" else child
            return result
        if isinstance(value, list):
            return [walk(child) for child in value if draw(_ACTIONS) != "delete"]
        return value

    return walk(sample)


def bodies(*samples: Any) -> st.SearchStrategy[bytes]:
    """Answer bodies: mostly mutated `samples`, else any JSON or bytes that are no JSON."""
    plausible = st.one_of(*(mutated(sample) for sample in samples))
    as_json = st.one_of(plausible, plausible, JSON).map(lambda v: json.dumps(v).encode())
    return as_json | _NOT_JSON


STATUSES = st.sampled_from((200, 200, 200, 201, 204, 400, 404, 409, 412, 422, 500, 503))


def ends_cleanly(call: Callable[[], Awaitable[Any]], *allowed: type[BaseException]) -> None:
    """Run one adapter operation to its end; an exception not `allowed` fails the test."""

    async def run() -> None:
        with contextlib.suppress(*allowed):
            await call()

    asyncio.run(run())
