"""policies/subscriptions.yaml and a backend's `events:`: mistakes named with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import configuration
from gateway.config.loader import check_config, load_config
from tests.configs import write_config


def errors(config_dir: Path) -> list[tuple[str, int | None, str]]:
    return [(i.file, i.line, i.message) for i in check_config(config_dir) if i.severity == "error"]


def test_the_repositorys_subscriptions_load(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    (subscription,) = config.subscriptions.subscriptions
    assert subscription.client == "crm-demo"
    assert config.backends["legacy"].events is not None


def test_an_unknown_client_or_event_type_is_named_at_its_line(tmp_path: Path) -> None:
    config_dir = write_config(
        tmp_path,
        subscriptions="""subscriptions:
  - id: hook
    url: http://127.0.0.1:9/x
    client: nobody
    types: [sales_order.shiped]
    secret_env: HOOK_SECRET
""",
    )
    found = errors(config_dir)
    assert ("policies/subscriptions.yaml", 4, found[0][2]) in found
    assert "unknown client 'nobody'" in found[0][2]
    assert any(line == 5 and "matches no event type" in message for _, line, message in found)


def test_a_lease_shorter_than_the_timeout_is_refused(tmp_path: Path) -> None:
    config_dir = write_config(tmp_path, subscriptions="delivery: {timeout_s: 10, lease_s: 5}\n")
    ((file, line, message),) = errors(config_dir)
    assert (file, line) == ("policies/subscriptions.yaml", 1)
    assert "lease_s must be longer than timeout_s" in message


def test_a_pushing_backend_needs_a_secret(tmp_path: Path) -> None:
    config_dir = write_config(tmp_path)
    legacy = config_dir / "backends" / "legacy.yaml"
    text = legacy.read_text()
    legacy.write_text(text.replace("  secret_env: LEGACY_EVENTS_SECRET", "  # no secret"))
    found = errors(config_dir)
    assert len(found) == 1 and found[0][0] == "backends/legacy.yaml"
    assert "push mode needs secret_env" in found[0][2]


def test_a_subscription_being_rotated_signs_with_its_current_secret_first(
    tmp_path: Path,
) -> None:
    config_dir = write_config(
        tmp_path,
        subscriptions="""subscriptions:
  - id: hook
    url: https://crm.example/hooks
    client: crm-demo
    secret_env: HOOK_SECRET
    previous_secret_env: HOOK_OLD_SECRET
""",
    )
    (subscription,) = load_config(config_dir).subscriptions.subscriptions
    assert subscription.secret_envs == ("HOOK_SECRET", "HOOK_OLD_SECRET")


def test_a_previous_secret_env_that_is_no_variable_name_is_refused_at_its_line(
    tmp_path: Path,
) -> None:
    config_dir = write_config(
        tmp_path,
        subscriptions="""subscriptions:
  - id: hook
    url: https://crm.example/hooks
    client: crm-demo
    secret_env: HOOK_SECRET
    previous_secret_env: whsec_c2VjcmV0
""",
    )
    ((file, line, _),) = errors(config_dir)
    assert (file, line) == ("policies/subscriptions.yaml", 6)


def _subscription_issues(
    config_dir: Path, env: dict[str, str]
) -> list[tuple[str, int | None, str]]:
    return [
        (i.severity, i.line, i.message)
        for i in configuration.check(config_dir, env=env)
        if i.file == "policies/subscriptions.yaml"
    ]


def test_a_signing_secret_unset_or_not_whsec_is_a_warning_at_its_variables_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found as the configuration loads to be served (`gateway check`, start-up, each reload),
    not minutes later in a dead letter; a warning: `gateway check` runs where production's
    secrets are not set, and the configuration loads as before. Not by the commands that only
    read the configuration (`explain`, `migrate`...): an operator's shell need not hold them."""
    config_dir = write_config(
        tmp_path,
        subscriptions="""subscriptions:
  - id: hook
    url: https://crm.example/hooks
    client: crm-demo
    secret_env: HOOK_SECRET
    previous_secret_env: HOOK_OLD_SECRET
""",
    )
    pasted = {"HOOK_OLD_SECRET": "a-password"}
    (unset, not_whsec) = _subscription_issues(config_dir, pasted)
    assert unset[:2] == ("warning", 5)
    assert "subscription hook" in unset[2]
    assert "the signing secret HOOK_SECRET is not set" in unset[2]
    assert not_whsec[:2] == ("warning", 6)
    assert "HOOK_OLD_SECRET is not a Standard Webhooks secret (whsec_ and base64)" in not_whsec[2]
    with caplog.at_level("WARNING", logger="gateway.config"):  # at start-up, at each reload
        served = configuration.load(config_dir, env=pasted, serving=True)
        assert served.subscriptions.subscriptions[0].id == "hook"
    logged = [r.getMessage() for r in caplog.records]
    assert [m for m in logged if m.startswith("policies/subscriptions.yaml:")] == [
        f"policies/subscriptions.yaml:5: {unset[2]}",
        f"policies/subscriptions.yaml:6: {not_whsec[2]}",
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="gateway.config"):  # an operator's command
        configuration.load(config_dir, env=pasted)
    assert not [r for r in caplog.records if "signing secret" in r.getMessage()]
    both = {"HOOK_SECRET": "whsec_bmV3LXNlY3JldA==", "HOOK_OLD_SECRET": "whsec_b2xkLXNlY3JldA=="}
    assert _subscription_issues(config_dir, both) == []
    (empty,) = _subscription_issues(config_dir, {**both, "HOOK_SECRET": "whsec_"})
    assert empty[:2] == ("warning", 5) and "HOOK_SECRET is not a Standard Webhooks" in empty[2]


def _backend_issues(
    config_dir: Path, env: dict[str, str]
) -> list[tuple[str, str, int | None, str]]:
    return [
        (i.severity, i.file, i.line, i.message)
        for i in configuration.check(config_dir, env=env)
        if i.file.startswith("backends/")
    ]


def _line(config_dir: Path, file: str, needle: str) -> int:
    text = (config_dir / file).read_text()
    return text[: text.index(needle)].count("\n") + 1


def test_a_push_backends_events_secret_unset_or_empty_is_a_warning_at_its_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Unset where the gateway serves, every notification of that ERP was answered 401 and its
    domain events stopped, and nothing said so: now `gateway check`, the start-up and each
    reload warn at the line of its `events.secret_env`. Not the commands that only read the
    configuration: an operator's shell need not hold the ERPs' secrets."""
    config_dir = write_config(tmp_path)
    legacy_line = _line(config_dir, "backends/legacy.yaml", "  secret_env: LEGACY_EVENTS_SECRET")
    cloud_line = _line(config_dir, "backends/cloud.yaml", "  secret_env: CLOUD_EVENTS_SECRET")
    env = {"CLOUD_EVENTS_SECRET": ""}  # the legacy one unset, the cloud one empty
    cloud, legacy = _backend_issues(config_dir, env)
    assert cloud[:3] == ("warning", "backends/cloud.yaml", cloud_line)
    assert legacy[:3] == ("warning", "backends/legacy.yaml", legacy_line)
    assert cloud[3] == (
        "backend cloud: the events secret CLOUD_EVENTS_SECRET is not set; a gateway with this "
        "environment refuses every change notification of its ERP (401 at /erp-events/cloud): "
        "no domain events of its orders"
    )
    assert "the events secret LEGACY_EVENTS_SECRET is not set" in legacy[3]
    with caplog.at_level("WARNING", logger="gateway.config"):  # at start-up, at each reload
        configuration.load(config_dir, env=env, serving=True)
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("backends/")]
    assert logged == [
        f"backends/cloud.yaml:{cloud_line}: {cloud[3]}",
        f"backends/legacy.yaml:{legacy_line}: {legacy[3]}",
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="gateway.config"):  # an operator's command
        configuration.load(config_dir, env=env)
    assert not [r for r in caplog.records if "events secret" in r.getMessage()]
    assert not [i for i in check_config(config_dir, env=env) if "events secret" in i.message]
    both = {"LEGACY_EVENTS_SECRET": "legacy-secret", "CLOUD_EVENTS_SECRET": "cloud-secret"}
    assert _backend_issues(config_dir, both) == []


def test_a_polled_backend_needs_no_events_secret(tmp_path: Path) -> None:
    config_dir = write_config(tmp_path)
    legacy = config_dir / "backends" / "legacy.yaml"
    text = legacy.read_text()
    assert "  mode: push " in text
    legacy.write_text(text.replace("  mode: push ", "  mode: poll "))
    (cloud,) = _backend_issues(config_dir, {})  # the cloud ERP still pushes
    assert cloud[1] == "backends/cloud.yaml"
