"""The admin API's 404s repeat a bounded prefix of a path id, as the domain API's do
(test_long_path_ids.py): a transaction or migration job id longer than any the gateway issues
is not looked up, and no id an operator's tool sends comes back whole in `detail`."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.domain.ids import MAX_GATEWAY_ID_LENGTH
from gateway.store.journal import MemoryJournal
from gateway.store.memory import MemoryStore
from tests.harness import in_process_gateway

LONG = 5000


class CountedJournal(MemoryJournal):
    """A memory journal that counts the entries read from it by id."""

    reads = 0

    async def entry(self, transaction_id: str) -> Any:
        self.reads += 1
        return await super().entry(transaction_id)


@pytest.mark.parametrize(
    ("method", "path", "id_"),
    [
        ("GET", "/admin/transactions/{}", "tx_" + "t" * LONG),
        ("POST", "/admin/transactions/{}/replay", "tx_" + "t" * LONG),
        ("GET", "/admin/migrations/{}", "mig_" + "m" * LONG),
        ("POST", "/admin/events/dead-letters/{}/replay", "crm-orders:" + "e" * LONG),
        ("POST", "/admin/events/subscriptions/{}/enable", "s" * LONG),
    ],
)
async def test_an_admin_404_echoes_a_bounded_prefix_of_a_long_path_id(
    method: str, path: str, id_: str
) -> None:
    store = MemoryStore()
    journal = CountedJournal()
    store.journal = journal
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        response = await ops.request(method, path.format(id_))
    assert response.status_code == 404, response.text
    problem = response.json()
    assert problem["code"] == "not_found"
    assert "…" in problem["detail"]
    assert len(problem["detail"]) < 200, problem["detail"][:300]
    assert problem["instance"] == path.format(id_)
    assert journal.reads == 0


async def test_an_unknown_transaction_of_a_gateway_ids_length_is_looked_up_and_echoed_whole() -> (
    None
):
    store = MemoryStore()
    journal = CountedJournal()
    store.journal = journal
    unknown = "tx_" + "x" * (MAX_GATEWAY_ID_LENGTH - 3)
    async with in_process_gateway(store) as gw, gw.client("ops-admin") as ops:
        response = await ops.get(f"/admin/transactions/{unknown}")
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == f"No transaction {unknown} in the journal."
    assert journal.reads == 1
