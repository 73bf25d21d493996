"""Gateway ids and the deterministic gateway reference sent to the ERPs."""

from __future__ import annotations

import base64
import hashlib
import os
import re

from gateway.domain.ids import (
    base32_prefix,
    base32_prefix_lower,
    gateway_reference,
    new_gateway_id,
)
from gateway.domain.operations import Kind, kind_of_id
from gateway.pipeline.journal import transaction_id


def test_the_reference_fits_sap_fields_and_is_deterministic() -> None:
    ref = gateway_reference("crm-demo", "key-1", "so_ignored")
    assert re.fullmatch(r"gw-[A-Z2-7]{26}", ref)
    assert len(ref) == 29 <= 35
    assert gateway_reference("crm-demo", "key-1", "so_other") == ref  # the key decides


def test_no_two_clients_share_a_reference_by_splitting_id_and_key_differently() -> None:
    assert gateway_reference("ab", "c", "x") != gateway_reference("a", "bc", "x")
    assert gateway_reference("billing", "-eu1", "x") != gateway_reference("billing-eu", "1", "x")


def test_without_a_key_the_reference_comes_from_the_gateway_id() -> None:
    assert gateway_reference("c", None, "so_a") != gateway_reference("c", None, "so_b")
    assert gateway_reference("c", None, "so_a") == gateway_reference("d", None, "so_a")


def test_gateway_ids_carry_their_kind_and_are_unique() -> None:
    ids = {new_gateway_id(Kind.SALES_ORDER) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(kind_of_id(i) is Kind.SALES_ORDER for i in ids)
    assert kind_of_id("foo_123") is None


def test_a_base32_prefix_is_the_start_of_the_whole_encoding() -> None:
    for length in (16, 20, 32):
        for _ in range(200):
            data = os.urandom(length)
            whole = base64.b32encode(data).decode("ascii").rstrip("=")
            for chars in (1, 8, 9, 25, 26, 32, 33):
                if chars > len(whole):
                    continue
                assert base32_prefix(data, chars) == whole[:chars]
                assert base32_prefix_lower(data, chars) == whole[:chars].lower()


def test_references_and_transaction_ids_stay_what_earlier_versions_made() -> None:
    # Processes of two versions side by side (a rolling upgrade) must agree on both.
    seed = hashlib.sha256(b"8:crm-demokey-1").digest()
    assert (
        gateway_reference("crm-demo", "key-1", "x") == "gw-" + base64.b32encode(seed).decode()[:26]
    )
    key = hashlib.sha256(b"crm-demo\0key-1").digest()
    expected = "tx_" + base64.b32encode(key).decode().lower().rstrip("=")[:26]
    assert transaction_id("crm-demo", "key-1") == expected
