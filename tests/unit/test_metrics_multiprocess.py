"""The sum of every worker's metrics (`PROMETHEUS_MULTIPROC_DIR`) while a worker starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import MULTIPROC_DIR_ENV
from gateway.observability import metrics


def test_a_worker_file_not_sized_yet_is_no_failure_of_the_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A starting worker creates its file, then sizes it: a scrape in between sees it empty.
    (tmp_path / "counter_999999.db").touch()
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(tmp_path))
    assert metrics.exposition() == b""
    assert metrics.business_figures()["orders"] == []
