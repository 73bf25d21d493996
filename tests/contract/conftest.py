"""The store's contracts hold on the memory store, on one Redis and on a Redis Cluster (a
local three-master cluster, `tests/redis_cluster.py`): every test here that takes `store` runs
on all three."""

from __future__ import annotations

import pytest

from tests.conftest import CLUSTER, MEMORY, REDIS


@pytest.fixture(
    params=[
        MEMORY,
        pytest.param(REDIS, marks=pytest.mark.redis),
        pytest.param(CLUSTER, marks=pytest.mark.redis),
    ]
)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind
