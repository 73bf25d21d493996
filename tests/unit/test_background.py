"""A background task (or writer) says once that the store is unavailable, and once that it is
back."""

from __future__ import annotations

import logging

import pytest

from gateway.store.outage import StoreOutage


def test_an_outage_is_one_warning_and_its_end_one_line(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.background")
    outage = StoreOutage(log, "deliveries")
    with caplog.at_level(logging.INFO, logger="test.background"):
        outage.up()  # nothing to say while all is well
        for _ in range(5):
            outage.down()
        outage.up()
        outage.up()
        outage.down()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "deliveries: the store is unavailable; trying again until it is back"),
        ("INFO", "deliveries: the store is back after 0 s"),
        ("WARNING", "deliveries: the store is unavailable; trying again until it is back"),
    ]
