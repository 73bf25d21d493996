"""The gateways the tests start keep their webhook events to themselves: a developer running the
README's example subscriber (Domain events, on :9200) while `make test` runs gets none of them,
and no test depends on whether anyone listens there."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gateway.config.loader import load_config
from tests.configs import README_SUBSCRIBER, REPO, copy_config, unheard_subscriber, write_config

# A gateway started on the repository's own files, or a copy made without `copy_config`.
_OWN_CONFIG = (
    re.compile(r'"(?:serve|demo)",\s*"--config-dir",\s*str\(REPO\)'),
    re.compile(r'GATEWAY_CONFIG_DIR"?\s*[:=]\s*str\(REPO\)'),
    re.compile(r'copytree\(\s*REPO\s*/\s*"policies"'),
)


def test_the_shipped_subscription_is_the_readmes_subscriber() -> None:
    # What the test configs redirect; were it moved, they would redirect nothing.
    subscriptions = load_config(REPO, env={}).subscriptions.subscriptions
    assert [str(s.url) for s in subscriptions] == [README_SUBSCRIBER]


@pytest.mark.parametrize("make", [copy_config, write_config], ids=["copy", "e2e"])
def test_a_test_config_sends_its_webhooks_where_no_one_answers(
    make: Callable[[Path], Path], tmp_path: Path
) -> None:
    config = load_config(make(tmp_path), env={})
    urls = [str(s.url) for s in config.subscriptions.subscriptions]
    assert urls == [unheard_subscriber()]
    assert ":9200" not in (tmp_path / "policies" / "subscriptions.yaml").read_text()
    with pytest.raises(httpx.ConnectError):
        httpx.post(urls[0], content=b"{}", timeout=5)


def test_no_test_starts_a_gateway_on_the_repositorys_own_config() -> None:
    found = [
        f"{path.relative_to(REPO)}: {match.group(0)}"
        for folder in ("tests", "bench")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path != REPO / "tests" / "configs.py" and path != Path(__file__)
        for pattern in _OWN_CONFIG
        for match in pattern.finditer(path.read_text())
    ]
    assert not found, "use tests.configs.copy_config (or the repo_config fixture):\n" + "\n".join(
        found
    )
