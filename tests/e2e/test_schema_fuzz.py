"""Schema-driven fuzzing with schemathesis: every operation of both OpenAPI documents, against a
running gateway and both simulators, with the demo client's token. No 5xx; every response
matches the schema the document declares for it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import (  # noqa: E402  (after the import-or-skip)
    not_a_server_error,
    response_schema_conformance,
)

from gateway.domain.versions import VERSIONS  # noqa: E402

EXAMPLES_PER_OPERATION = 12
# The demo client's tier allows 50 requests/s; stay under it so the fuzz run measures the
# schema, not the rate limiter, and leaves the shared gateway's budget for other tests.
MIN_INTERVAL_S = 1 / 40


def paced(interval_s: float) -> Callable[[], None]:
    last = [0.0]

    def wait() -> None:
        delay = last[0] + interval_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        last[0] = time.monotonic()

    return wait


@pytest.mark.parametrize("version", VERSIONS)
def test_fuzzed_requests_get_no_server_error_and_responses_match_the_schema(
    gateway_url: str, token: str, version: str
) -> None:
    schema = schemathesis.openapi.from_url(f"{gateway_url}/openapi/{version}.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 12
    headers = {"Authorization": f"Bearer {token}"}
    wait = paced(MIN_INTERVAL_S)
    failures: list[str] = []

    for operation in operations:

        @given(case=operation.as_strategy(), _=st.just(None))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case, _: None) -> None:
            wait()
            # A fresh key per call, so that writes go past the idempotency step to the ERPs.
            key = {"Idempotency-Key": uuid.uuid4().hex} if case.method == "POST" else {}
            case.call_and_validate(
                base_url=gateway_url,
                headers={**headers, **key},
                checks=[not_a_server_error, response_schema_conformance],
            )

        try:
            fuzz()
        except Exception as exc:  # report every operation's failure, not just the first
            failures.append(f"{operation.label}: {exc}")

    assert not failures, "\n\n".join(failures)
