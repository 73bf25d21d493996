"""Loading the configuration: the demo config loads; each broken file is reported at file:line."""

from __future__ import annotations

import datetime as dt
import shutil
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import BaseModel

from gateway import configuration
from gateway.config.base import ConfigModel
from gateway.config.issues import ConfigError, ConfigIssue
from gateway.config.loader import GatewayConfig, check_config, load_config
from gateway.config.schemas import CONFIG_SCHEMAS
from gateway.config.yamlfile import expand_env, parse_yaml
from gateway.demo import DEMO_EVENT_SECRETS
from gateway.domain.operations import Operation

REPO = Path(__file__).resolve().parents[2]
CONFIG_PARTS = ("routes.yaml", "backends", "policies")


def config_copy(tmp_path: Path) -> Path:
    """A private copy of the repository's demo configuration."""
    target = tmp_path / "config"
    target.mkdir()
    for part in CONFIG_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        else:
            shutil.copy(source, target / part)
    return target


def edit(config_dir: Path, file: str, old: str, new: str) -> int:
    """Replace the one occurrence of `old` in `file`; the line where the replacement starts."""
    path = config_dir / file
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} should occur once in {file}"
    path.write_text(text.replace(old, new))
    return text[: text.index(old)].count("\n") + 1


def line_of(config_dir: Path, file: str, needle: str) -> int:
    text = (config_dir / file).read_text()
    assert text.count(needle) == 1, f"{needle!r} should occur once in {file}"
    return text[: text.index(needle)].count("\n") + 1


def errors_in(config_dir: Path, env: dict[str, str] | None = None) -> list[ConfigIssue]:
    issues = check_config(config_dir, env={} if env is None else env)
    return [i for i in issues if i.severity == "error"]


def only_error(config_dir: Path, env: dict[str, str] | None = None) -> ConfigIssue:
    errors = errors_in(config_dir, env)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


# -- the demo configuration ---------------------------------------------------------------


def test_the_demo_configuration_loads_without_any_issue() -> None:
    assert configuration.check(REPO, env=DEMO_EVENT_SECRETS) == []  # as `gateway demo` sets
    # Where the demo's secrets are not set (a shell beside `make run`): those, only, and only
    # where a gateway would serve it (`gateway check`), not for every command that reads: each
    # backend's events secret (its ERP's notifications refused) and the webhook's.
    assert check_config(REPO, env={}) == []
    cloud, legacy, webhook = configuration.check(REPO, env={})
    for issue, file, variable in (
        (cloud, "backends/cloud.yaml", "CLOUD_EVENTS_SECRET"),
        (legacy, "backends/legacy.yaml", "LEGACY_EVENTS_SECRET"),
        (webhook, "policies/subscriptions.yaml", "CRM_WEBHOOK_SECRET"),
    ):
        line = line_of(REPO, file, f"  secret_env: {variable} ")
        assert (issue.severity, issue.file, issue.line) == ("warning", file, line)
        assert f"{variable} is not set" in issue.message
    config = load_config(REPO, env={})
    assert sorted(config.backends) == ["cloud", "legacy"]
    assert sorted(config.routes.legal_entities) == ["CA01", "DE01", "FR01", "GB01", "SG01", "US01"]
    assert config.routes.default_backend == "legacy"
    assert config.config_dir == REPO


def test_the_demo_configuration_has_the_documented_clients_and_issuer() -> None:
    config = load_config(REPO, env={})
    clients = {c.id: c for c in config.clients.clients}
    assert clients["crm-demo"].legal_entities == "*"
    assert "quotes:write" in clients["crm-demo"].scopes
    assert clients["crm-emea"].legal_entities == ["DE01", "FR01", "GB01"]
    assert all(s.endswith(":read") for s in clients["crm-emea"].scopes)
    assert clients["ops-admin"].scopes == ["gateway:admin"]
    (issuer,) = config.auth.issuers
    assert (issuer.issuer, issuer.secret_env, issuer.demo) == (
        "https://gateway.local/demo",
        "GATEWAY_DEMO_SECRET",
        True,
    )
    assert config.rate_limits.tiers["standard"].burst == 100


# -- YAML and schema errors, each at its file and line ---------------------------------------


def test_bad_yaml_is_reported_at_the_line_the_parser_stopped(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "routes.yaml", "legal_entities: [US01]}", "legal_entities: [US01}")
    issue = only_error(config)
    assert (issue.file, issue.line) == ("routes.yaml", line)
    assert "invalid YAML" in issue.message


def test_a_tab_that_indents_is_an_error_at_its_line_saying_to_indent_with_spaces(
    tmp_path: Path,
) -> None:
    # The parser said "found character that cannot start any token", not which: a tab looks
    # like the spaces around it in most editors.
    config = config_copy(tmp_path)
    line = edit(config, "routes.yaml", "  DE01: {", "\tDE01: {")
    issue = only_error(config)
    assert (issue.file, issue.line) == ("routes.yaml", line)
    assert "a tab: YAML indents with spaces only" in issue.message


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("policies/subscriptions.yaml", 'legal_entities: "*"', "legal_entities: *"),
        ("routes.yaml", 'operations: ["*"]', "operations: [*]"),
    ],
)
def test_an_unquoted_star_is_an_error_at_its_line_saying_to_quote_it(
    tmp_path: Path, file: str, old: str, new: str
) -> None:
    # The parser said "did not find expected alphabetic or numeric character (while scanning
    # an alias)": nothing of the `*` that everyone writes for "all" and YAML reads as an alias.
    config = config_copy(tmp_path)
    line = edit(config, file, old, new)
    issue = only_error(config)
    assert (issue.file, issue.line) == (file, line)
    assert '`*` starts an alias in YAML: quote it ("*")' in issue.message


def test_a_quote_never_closed_is_reported_at_the_line_it_opens(tmp_path: Path) -> None:
    """The parser only finds out at the end of the file, a line past the last one: that line
    sent the operator to an empty screen; the quote's own line is where the fix goes."""
    config = config_copy(tmp_path)
    line = edit(
        config, "routes.yaml", "replicate_customers: on_demand", 'replicate_customers: "on_demand'
    )
    issue = only_error(config)
    assert (issue.file, issue.line) == ("routes.yaml", line), str(issue)
    assert "invalid YAML" in issue.message


def test_a_bracket_never_closed_names_the_line_it_opens(tmp_path: Path) -> None:
    """The parser stops at the next key it cannot take as an item, lines further down; the
    message says where the list began, which is the line that was edited."""
    config = config_copy(tmp_path)
    opened = edit(config, "routes.yaml", "default_backend: legacy", "default_backend: [legacy")
    issue = only_error(config)
    assert issue.file == "routes.yaml" and issue.line is not None and issue.line > opened
    assert f"flow sequence that starts at line {opened}" in issue.message, str(issue)


def test_a_date_that_does_not_exist_is_reported_at_its_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "policies/api-versions.yaml", "  v2: {}", "  v2: {sunset: 2027-13-01}")
    issue = only_error(config)
    assert (issue.file, issue.line) == ("policies/api-versions.yaml", line)
    assert "'2027-13-01' is not a date" in issue.message


def test_a_legal_entity_currency_that_is_no_iso_code_is_reported_at_its_line(
    tmp_path: Path,
) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "routes.yaml", "country: DE, currency: EUR}", "country: DE, currency: XYZ}")
    issue = only_error(config)
    assert (issue.file, issue.line) == ("routes.yaml", line)
    assert "legal_entities.DE01.currency: XYZ is no currency" in issue.message


@pytest.mark.parametrize("key", ["EUE", "eur", "EURO", "XXX"])
def test_a_currency_map_key_that_is_no_iso_code_is_refused_at_its_line(
    tmp_path: Path, key: str
) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "backends/cloud.yaml", '    EUR: "4"', f'    {key}: "4"')

    issue = only_error(config)
    with pytest.raises(ConfigError) as refused:  # start-up: the gateway does not start on it
        load_config(config, env={})

    assert (issue.file, issue.line) == ("backends/cloud.yaml", line)
    assert issue.message.startswith(f"value_maps.currencies.{key}: ")
    assert "ISO 4217" in issue.message
    assert f"backends/cloud.yaml:{line}: value_maps.currencies.{key}" in str(refused.value)


def test_a_wrong_type_is_reported_at_the_line_of_the_value(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "policies/rate-limits.yaml", "burst: 100}", "burst: lots}")
    issue = only_error(config)
    assert (issue.file, issue.line) == ("policies/rate-limits.yaml", line)
    assert "tiers.standard.burst" in issue.message
    assert "'lots'" in issue.message


@pytest.mark.parametrize(
    ("file", "old", "new", "read", "as_what"),
    [
        ("routes.yaml", "country: SG,", "country: NO,", "false", "a boolean"),  # Norway: YAML 1.1
        (
            "backends/legacy.yaml",
            'sap_client: "100"',
            "sap_client: 0100",
            "64",
            "a number",
        ),  # octal
        ("backends/legacy.yaml", "NET30: NT30", "NET30: 0030", "24", "a number"),
        (
            "backends/legacy.yaml",
            '{company_code: "1710",',
            "{company_code: 1710,",
            "1710",
            "a number",
        ),
        ("backends/legacy.yaml", "WIDGET-1: FG-WIDGET1", "WIDGET-1: on", "true", "a boolean"),
    ],
)
def test_text_that_yaml_reads_as_a_number_or_boolean_is_an_error_saying_to_quote_it(
    tmp_path: Path, file: str, old: str, new: str, read: str, as_what: str
) -> None:
    # The error showed the value as YAML read it, `(got 24)` for 0030 or `(got false)` for
    # NO, and left the operator wondering where it came from.
    config = config_copy(tmp_path)
    line = edit(config, file, old, new)
    issue = only_error(config)
    assert (issue.file, issue.line) == (file, line)
    assert issue.message.endswith(f"(got {read}): YAML reads it unquoted as {as_what}; quote it")


def test_a_boolean_where_a_list_goes_is_not_told_to_be_quoted(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    edit(
        config, "policies/clients.yaml", "legal_entities: [DE01, FR01, GB01]", "legal_entities: yes"
    )
    assert "quote" not in only_error(config).message


def test_an_unknown_key_is_reported_at_its_own_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "routes.yaml", "    backend: cloud", "    priority: 1\n    backend: cloud")
    issue = only_error(config)
    assert str(issue) == f"routes.yaml:{line}: rules[0]: unknown key 'priority'"


def test_a_missing_key_is_reported_at_the_line_of_the_entry_that_lacks_it(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    edit(config, "routes.yaml", "    backend: cloud", "")
    issue = only_error(config)
    assert issue.line == line_of(config, "routes.yaml", "- id: wave-1")
    assert issue.message == "rules[0]: missing key 'backend' (or 'split', for a canary)"


def test_a_deeply_nested_error_points_at_the_nested_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "backends/legacy.yaml", 'sales_organization: "1010"', "sales_org: 1")
    messages = {i.message for i in errors_in(config) if i.line == line}
    assert messages == {
        "value_maps.legal_entities.DE01: missing key 'sales_organization'",
        "value_maps.legal_entities.DE01: unknown key 'sales_org'",
    }


def test_an_unknown_backend_kind_is_reported_at_the_kind_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "backends/cloud.yaml", "kind: netsuite-rest", "kind: netsuite-soap")
    issue = only_error(config)
    assert (issue.file, issue.line) == ("backends/cloud.yaml", line)
    assert "netsuite-soap" in issue.message


CLOUD_AUTH_KEY = "  private_key_env: CLOUD_ERP_PRIVATE_KEY"


def test_a_cloud_backend_with_two_private_key_sources_is_an_error_at_its_auth_line(
    tmp_path: Path,
) -> None:
    config = config_copy(tmp_path)
    edit(
        config,
        "backends/cloud.yaml",
        CLOUD_AUTH_KEY,
        f"{CLOUD_AUTH_KEY}\n  private_key_file: k.pem",
    )
    issue = only_error(config)
    assert (issue.file, issue.line) == (
        "backends/cloud.yaml",
        line_of(config, "backends/cloud.yaml", "\nauth:") + 1,
    )
    assert "exactly one of private_key_env, private_key_file" in issue.message


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  algorithm: ES256", "  algorithm: RS256", "algorithm"),
        ("  method: client_credentials", "  method: client_secret", "method"),
        (CLOUD_AUTH_KEY, "  client_secret_env: CLOUD_ERP_CLIENT_SECRET", "client_secret_env"),
    ],
    ids=["rs256", "no-such-method", "a-client-secret"],
)
def test_what_netsuite_would_refuse_in_a_cloud_backends_auth_is_an_error_at_its_line(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "backends/cloud.yaml", old, new)
    errors = errors_in(config)
    assert any(
        (e.file, e.line) == ("backends/cloud.yaml", line) and message in e.message for e in errors
    ), [str(e) for e in errors]


def test_a_cloud_backend_still_written_with_a_client_secret_says_what_replaced_it(
    tmp_path: Path,
) -> None:
    config = config_copy(tmp_path)
    text = (config / "backends/cloud.yaml").read_text()
    start, end = text.index("auth:"), text.index("timeout_s:")
    old = "credentials:\n  client_id_env: CLOUD_ERP_CLIENT_ID\n  client_secret_env: X\n"
    (config / "backends/cloud.yaml").write_text(text[:start] + old + text[end:])
    issue = only_error(config)
    assert issue.file == "backends/cloud.yaml"
    assert "NetSuite takes no client secret" in issue.message and "auth:" in issue.message


def test_a_rule_checked_by_its_model_names_the_issue_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    edit(config, "policies/auth.yaml", "algorithms: [HS256]", "algorithms: [HS256, RS256]")
    issue = only_error(config)
    assert issue.file == "policies/auth.yaml"
    assert issue.line == line_of(config, "policies/auth.yaml", "- name: demo")  # the issuer
    assert "both HMAC and RSA/EC" in issue.message


def test_the_demo_issuer_caps_its_tokens_at_a_day() -> None:
    (issuer,) = load_config(REPO, env={}).auth.issuers
    assert issuer.max_lifetime_s == 86400


@pytest.mark.parametrize("cap", ["0", "-60", "2678401", "a day", "1.5", "true"])
def test_a_token_lifetime_cap_outside_a_second_to_31_days_is_an_error_at_its_line(
    tmp_path: Path, cap: str
) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "policies/auth.yaml", "max_lifetime_s: 86400", f"max_lifetime_s: {cap}")
    error = only_error(config)
    assert (error.file, error.line) == ("policies/auth.yaml", line)
    assert "max_lifetime_s" in error.message


@pytest.mark.parametrize("cap", ["1", "2678400", "${TOKEN_CAP_S:-3600}"])
def test_a_token_lifetime_cap_from_a_second_to_31_days_loads(tmp_path: Path, cap: str) -> None:
    config = config_copy(tmp_path)
    edit(config, "policies/auth.yaml", "max_lifetime_s: 86400", f"max_lifetime_s: {cap}")
    assert errors_in(config) == []


def test_each_backend_caps_the_size_of_its_erps_answers() -> None:
    config = load_config(REPO, env={})
    assert {name: b.max_response_bytes for name, b in config.backends.items()} == {
        "cloud": 4 * 1024 * 1024,
        "legacy": 4 * 1024 * 1024,
    }


@pytest.mark.parametrize("cap", ["0", "1073741824", "big"])
def test_a_response_cap_outside_its_bounds_is_an_error_at_its_line(
    tmp_path: Path, cap: str
) -> None:
    config = config_copy(tmp_path)
    line = edit(
        config, "backends/cloud.yaml", "max_response_bytes: 4194304", f"max_response_bytes: {cap}"
    )
    error = only_error(config)
    assert (error.file, error.line) == ("backends/cloud.yaml", line)
    assert "max_response_bytes" in error.message


def test_a_duplicate_yaml_key_is_an_error_at_the_second_occurrence(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    first = line_of(config, "backends/legacy.yaml", "timeout_s: 5")
    line = edit(config, "backends/legacy.yaml", "pool:", "timeout_s: 50\npool:")
    issue = only_error(config)
    expected = f"duplicate key 'timeout_s' (first at line {first})"
    assert str(issue) == f"backends/legacy.yaml:{line}: {expected}"


def test_a_repeated_keys_value_is_checked_at_the_repeats_lines(tmp_path: Path) -> None:
    # The later value is the one loaded: what is wrong with it is at its own lines, and a
    # third occurrence names the first as well.
    config = config_copy(tmp_path)
    first = line_of(config, "policies/rate-limits.yaml", "  standard: {rate_per_s: 50")
    line = edit(
        config,
        "policies/rate-limits.yaml",
        "  bulk: {rate_per_s: 200, burst: 400}",
        "  standard: {rate_per_s: 7, burst: 9}\n  standard:\n    rate_per_s: x\n    burst: 9",
    )
    issues = [str(issue) for issue in errors_in(config)]
    file = "policies/rate-limits.yaml"
    assert issues == [
        f"{file}:{line}: duplicate key 'standard' (first at line {first})",
        f"{file}:{line + 1}: duplicate key 'standard' (first at line {first})",
        f"{file}:{line + 2}: tiers.standard.rate_per_s: Input should be a valid number, "
        "unable to parse string as a number (got 'x')",
    ]


def test_a_control_character_is_an_error_at_its_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(
        config, "policies/rate-limits.yaml", "on_store_error: open", "on_store_error: \0open"
    )
    issue = only_error(config)
    assert str(issue) == (
        f"policies/rate-limits.yaml:{line}: invalid YAML: unacceptable character #x0000: "
        "control characters are not allowed"
    )


def test_a_byte_that_is_no_utf8_is_an_error_at_its_line_saying_how_to_save_the_file(
    tmp_path: Path,
) -> None:
    # A name typed in a Latin-1 editor: the error named the file only, not where in it.
    config = config_copy(tmp_path)
    routes = config / "routes.yaml"
    line = line_of(config, "routes.yaml", "Acme Deutschland GmbH")
    text = routes.read_text().replace("Acme Deutschland GmbH", "Acme Müller GmbH")
    routes.write_bytes(text.encode("latin-1"))
    assert str(only_error(config)) == (
        f"routes.yaml:{line}: not UTF-8 text (byte 0xfc); save the file as UTF-8"
    )


def test_a_utf16_file_is_an_error_saying_to_save_it_as_utf8(tmp_path: Path) -> None:
    # What a Windows editor writes as "Unicode": the file's first bytes, its byte order mark,
    # are no UTF-8, and the error said so without saying what the file was.
    config = config_copy(tmp_path)
    clients = config / "policies/clients.yaml"
    clients.write_bytes(clients.read_text().encode("utf-16"))
    assert str(only_error(config)) == (
        "policies/clients.yaml:1: UTF-16 text, not UTF-8; save the file as UTF-8"
    )


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    (config / "policies/clients.yaml").write_text("# nothing yet\n")
    issue = only_error(config)
    assert (issue.file, issue.message) == ("policies/clients.yaml", "the file is empty")


def test_a_missing_file_is_an_error_without_a_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    (config / "policies/auth.yaml").unlink()
    issue = only_error(config)
    assert str(issue) == "policies/auth.yaml: missing file"


@pytest.mark.parametrize(
    "file", ["policies/subscriptions.yaml", "policies/auth.yaml", "backends/cloud.yaml"]
)
def test_a_link_pointing_nowhere_is_an_error_at_its_file_saying_so(
    tmp_path: Path, file: str
) -> None:
    # An optional file's dangling link read as the file absent (0 errors, webhooks off), a
    # required one's as `missing file`, though the file is there, broken.
    config = config_copy(tmp_path)
    target = tmp_path / "nonexistent.yaml"
    (config / file).unlink()
    (config / file).symlink_to(target)
    issue = only_error(config)
    assert str(issue) == f"{file}: a symbolic link to {target}, which does not exist"


# What editors leave next to a file they edit: Emacs's lock (a link to its owner, pointing
# nowhere), macOS's resource fork on a shared or FAT volume, Emacs's backup, Vim's swap file.
EDITOR_SIDE_FILES = {
    ".#legacy.yaml": "ops@bastion.4242:1764670000",
    "._legacy.yaml": "\x00\x05\x16\x07Mac OS X",
    "legacy.yaml~": "kind: sap-s4hana-odata\n",
    ".legacy.yaml.swp": "b0VIM 9.0\x00",
}


@pytest.mark.parametrize("side_file", sorted(EDITOR_SIDE_FILES))
def test_an_editors_side_file_in_backends_is_no_backend_file(
    tmp_path: Path, side_file: str
) -> None:
    # `.#legacy.yaml` was refused as a backend's name that is not lowercase: no reload was
    # taken while an editor had the file open.
    config = config_copy(tmp_path)
    without = check_config(config, env={})
    path = config / "backends" / side_file
    if side_file.startswith(".#"):
        path.symlink_to(EDITOR_SIDE_FILES[side_file])
    else:
        path.write_text(EDITOR_SIDE_FILES[side_file])
    assert check_config(config, env={}) == without


def test_an_empty_backends_directory_is_an_error(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    for path in (config / "backends").iterdir():
        path.unlink()
    files = {(i.file, i.message) for i in errors_in(config)}
    assert ("backends/", "no backend files (one <name>.yaml per ERP backend)") in files


def test_a_missing_config_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "nowhere", env={})
    assert "does not exist" in str(raised.value)


def test_a_config_directory_that_is_a_file_is_said_to_be_one(tmp_path: Path) -> None:
    given = tmp_path / "routes.yaml"  # --config-dir routes.yaml, a slip of the keyboard
    given.write_text("rules: []\n")
    with pytest.raises(ConfigError) as raised:
        load_config(given, env={})
    assert "is not a directory" in str(raised.value)


def test_every_broken_file_is_reported_in_one_run(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    routes_line = edit(config, "routes.yaml", "legal_entities: [US01]}", "legal_entities: [US01}")
    tiers_line = edit(config, "policies/rate-limits.yaml", "burst: 100}", "burst: -1}")
    edit(config, "backends/cloud.yaml", "timeout_s: 5", "timeout_s: soon")
    with pytest.raises(ConfigError) as raised:
        load_config(config, env={})
    where = {(i.file, i.line) for i in raised.value.issues}
    assert ("routes.yaml", routes_line) in where
    assert ("policies/rate-limits.yaml", tiers_line) in where
    assert any(file == "backends/cloud.yaml" for file, _ in where)
    assert f"routes.yaml:{routes_line}: invalid YAML" in str(raised.value)


def test_the_optional_idempotency_policy_is_loaded_when_present(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    assert load_config(config, env={}).idempotency.retention_s == 86400  # the default
    (config / "policies/idempotency.yaml").write_text("retention_s: 3600\n")
    assert load_config(config, env={}).idempotency.retention_s == 3600
    (config / "policies/idempotency.yaml").write_text("retention_s: 3600\nlease_s: -1\n")
    issue = only_error(config)
    assert (issue.file, issue.line) == ("policies/idempotency.yaml", 2)


def test_an_orders_state_is_kept_400_days_and_never_less_than_its_timeline(
    tmp_path: Path,
) -> None:
    config = config_copy(tmp_path)
    events = load_config(config, env={}).operations.events
    assert events.documents.retention_s == 400 * 86400  # the default
    (config / "policies/operations.yaml").write_text(
        "events:\n  timelines: {retention_s: 86400}\n  documents: {retention_s: 172800}\n"
    )
    assert load_config(config, env={}).operations.events.documents.retention_s == 172800
    (config / "policies/operations.yaml").write_text(
        "events:\n  timelines: {retention_s: 172800}\n  documents: {retention_s: 86400}\n"
    )
    issue = only_error(config)
    assert (issue.file, issue.line) == ("policies/operations.yaml", 3)
    assert "documents.retention_s must be at least timelines.retention_s" in issue.message


def test_the_request_timeout_is_15_s_unless_operations_yaml_sets_it(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    assert load_config(config, env={}).operations.requests.timeout_s == 15.0  # the default
    (config / "policies/operations.yaml").write_text("requests:\n  timeout_s: 2.5\n")
    assert load_config(config, env={}).operations.requests.timeout_s == 2.5
    (config / "policies/operations.yaml").write_text("requests:\n  timeout_s: ${TIMEOUT_S:-300}\n")
    assert load_config(config, env={}).operations.requests.timeout_s == 300.0


@pytest.mark.parametrize("timeout", ["0", "-1", "300.5", "soon", "true", ".inf", ".nan"])
def test_a_request_timeout_outside_its_bounds_is_an_error_at_its_line(
    tmp_path: Path, timeout: str
) -> None:
    config = config_copy(tmp_path)
    (config / "policies/operations.yaml").write_text(f"requests:\n  timeout_s: {timeout}\n")
    error = only_error(config)
    assert (error.file, error.line) == ("policies/operations.yaml", 2)
    assert "requests.timeout_s" in error.message, error.message


def test_a_subscription_naming_no_api_version_is_refused_and_a_sunset_one_warned_of_at_its_line(
    tmp_path: Path,
) -> None:
    config = config_copy(tmp_path)
    hook = "    client: crm-demo "
    line = edit(config, "policies/subscriptions.yaml", hook, "    api_version: v0\n" + hook)
    issue = only_error(config)
    assert (issue.file, issue.line) == ("policies/subscriptions.yaml", line)
    assert "unknown API version" in issue.message and "v1, v2" in issue.message
    edit(config, "policies/subscriptions.yaml", "api_version: v0", "api_version: v1")
    assert load_config(config, env={}).subscriptions.subscriptions[0].api_version == "v1"
    (config / "policies/api-versions.yaml").write_text(
        "versions:\n  v1: {deprecated: 2020-01-01, sunset: 2020-06-01}\n"
    )
    # It loads (a restart on the sunset day must not fail), with a warning at its line.
    assert errors_in(config) == []
    (issue,) = [
        i
        for i in check_config(config, env=DEMO_EVENT_SECRETS)
        if i.file == "policies/subscriptions.yaml"
    ]
    assert (issue.severity, issue.line) == ("warning", line)
    assert "v1, which is sunset since 2020-06-01" in issue.message


def test_a_subscription_whose_clients_pin_is_sunset_soon_is_warned_of_at_its_client(
    tmp_path: Path,
) -> None:
    config = config_copy(tmp_path)
    soon = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=10)
    (config / "policies/api-versions.yaml").write_text(
        f"versions:\n  v1: {{deprecated: 2020-01-01, sunset: {soon.isoformat()}}}\n"
    )
    assert [
        i
        for i in check_config(config, env=DEMO_EVENT_SECRETS)
        if i.file.endswith("subscriptions.yaml")
    ] == []
    edit(
        config,
        "policies/clients.yaml",
        "    rate_limit: standard                # a tier",
        "    api_version: v1\n    rate_limit: standard                # a tier",
    )
    line = line_of(config, "policies/subscriptions.yaml", "client: crm-demo")
    (issue,) = [
        i
        for i in check_config(config, env=DEMO_EVENT_SECRETS)
        if i.file.endswith("subscriptions.yaml")
    ]
    assert (issue.severity, issue.line) == ("warning", line)
    assert f"the API version of client crm-demo, v1, which is sunset on {soon}" in issue.message


# -- numbers, never a YAML boolean -------------------------------------------------------------


def write_value(config: Path, file: str, old: str, new: str, below: int) -> int:
    """`new` in place of `old` in `file` (the whole of an optional file when `old` is empty):
    the line of the value written, `below` the lines under the edit's first."""
    if old:
        return edit(config, file, old, new) + below
    (config / file).write_text(new)
    return 1 + below


@dataclass(frozen=True)
class NumberField:
    """A number in one config file, as the tests below write it: `VALUE` in `new` (replacing
    `old`) is what is put there, `below` the lines from the edit's first to the value's."""

    file: str
    old: str
    new: str
    path: str
    expects: str  # "a valid integer" or "a valid number", as pydantic words the type
    number: int  # a valid value, unlike the shipped one, so that reading it shows
    read: Callable[[GatewayConfig], float]
    below: int = 0

    def edit(self, config: Path, value: str) -> int:
        return write_value(
            config, self.file, self.old, self.new.replace("VALUE", value), self.below
        )


# One number of each config file, of each shape: a field, a map's value, a list's item. Block
# style, where a `${...}` needs no quotes (its `}` would close a flow mapping).
NUMBER_FIELDS = [
    NumberField(
        "policies/auth.yaml",
        "leeway_s: 30 ",
        "leeway_s: VALUE ",
        "issuers[0].leeway_s",
        "a valid integer",
        45,
        lambda c: c.auth.issuers[0].leeway_s,
    ),
    NumberField(
        "policies/rate-limits.yaml",
        "  standard: {rate_per_s: 50, burst: 100}",
        "  standard:\n    rate_per_s: VALUE\n    burst: 100",
        "tiers.standard.rate_per_s",
        "a valid number",
        75,
        lambda c: c.rate_limits.tiers["standard"].rate_per_s,
        below=1,
    ),
    NumberField(
        "backends/cloud.yaml",
        "timeout_s: 5 ",
        "timeout_s: VALUE ",
        "timeout_s",
        "a valid number",
        7,
        lambda c: c.backends["cloud"].timeout_s,
    ),
    NumberField(
        "policies/operations.yaml",
        "",
        "journal:\n  retention_s: VALUE\n",
        "journal.retention_s",
        "a valid integer",
        7200,
        lambda c: c.operations.journal.retention_s,
        below=1,
    ),
    NumberField(
        "routes.yaml",
        "    backend: cloud   ",
        "    split:\n      cloud: VALUE\n      legacy: 60   ",
        "rules[0].split.cloud",
        "a valid number",
        40,
        lambda c: (c.routes.rules[0].split or {})["cloud"],
        below=1,
    ),
    NumberField(
        "policies/subscriptions.yaml",
        "retry_schedule_s: [1, 2, 4]",
        "retry_schedule_s:\n    - 1\n    - VALUE\n    - 4",
        "delivery.retry_schedule_s[1]",
        "a valid number",
        3,
        lambda c: c.subscriptions.delivery.retry_schedule_s[1],
        below=2,
    ),
]


@pytest.mark.parametrize("field", NUMBER_FIELDS, ids=lambda f: f.path)
@pytest.mark.parametrize(
    "written, read_as", [("true", "true"), ("yes", "true"), ("false", "false")]
)
def test_a_yaml_boolean_where_a_number_goes_is_an_error_at_its_line(
    tmp_path: Path, field: NumberField, written: str, read_as: str
) -> None:
    # YAML reads true/yes/on (false/no/off) as a boolean, which pydantic would take for 1 (0).
    config = config_copy(tmp_path)
    line = field.edit(config, written)
    assert str(only_error(config)) == (
        f"{field.file}:{line}: {field.path}: Input should be {field.expects}, "
        f"not true/false, yes/no or on/off (got {read_as})"
    )


@pytest.mark.parametrize("field", NUMBER_FIELDS, ids=lambda f: f.path)
def test_a_number_written_or_from_a_variable_still_loads(
    tmp_path: Path, field: NumberField
) -> None:
    # A variable's value is a string, read as the number it spells.
    for place, written, env in (
        ("written", str(field.number), {}),
        ("variable", "${NUMBER}", {"NUMBER": str(field.number)}),
        ("default", f"${{NUMBER:-{field.number}}}", {}),
    ):
        (tmp_path / place).mkdir()
        config = config_copy(tmp_path / place)
        field.edit(config, written)
        assert field.read(load_config(config, env=env)) == field.number, place


def test_every_model_of_every_config_file_refuses_a_boolean_for_a_number() -> None:
    # The refusal is ConfigModel's: a model on another base would read `yes` as 1 again.
    seen: set[type] = set()
    pending: list[object] = [entry.model for entry in CONFIG_SCHEMAS]
    while pending:
        kind = pending.pop()
        pending.extend(typing.get_args(kind))
        if isinstance(kind, type) and issubclass(kind, BaseModel) and kind not in seen:
            seen.add(kind)
            assert issubclass(kind, ConfigModel), kind
            pending.extend(f.annotation for f in kind.model_fields.values())
    assert len(seen) > len(CONFIG_SCHEMAS)  # the nested models were reached too


# -- booleans, never a number or a word ----------------------------------------------------------


@dataclass(frozen=True)
class BoolField:
    """A boolean in one config file, written as `NumberField` writes a number."""

    file: str
    old: str
    new: str
    path: str
    read: Callable[[GatewayConfig], bool]
    below: int = 0

    def edit(self, config: Path, value: str) -> int:
        return write_value(
            config, self.file, self.old, self.new.replace("VALUE", value), self.below
        )


BOOL_FIELDS = [
    BoolField(
        "policies/auth.yaml",
        "demo: true ",
        "demo: VALUE ",
        "issuers[0].demo",
        lambda c: c.auth.issuers[0].demo,
    ),
    BoolField(
        "policies/operations.yaml",
        "",
        "journal:\n  enabled: VALUE\n",
        "journal.enabled",
        lambda c: c.operations.journal.enabled,
        below=1,
    ),
    BoolField(
        "policies/rate-limits.yaml",
        "  max_failures: 100 ",
        "  enabled: VALUE\n  max_failures: 100 ",
        "auth_failures.enabled",
        lambda c: c.rate_limits.auth_failures.enabled,
    ),
    BoolField(
        "backends/cloud.yaml",
        "  enabled: true ",
        "  enabled: VALUE ",
        "breaker.enabled",
        lambda c: c.backends["cloud"].breaker.enabled,
    ),
]


@pytest.mark.parametrize("field", BOOL_FIELDS, ids=lambda f: f.path)
@pytest.mark.parametrize("written", ["1", "0", "0.5"])
def test_a_number_where_a_boolean_goes_is_an_error_at_its_line(
    tmp_path: Path, field: BoolField, written: str
) -> None:
    # pydantic's lax mode would read 1 as true and 0 as false.
    config = config_copy(tmp_path)
    line = field.edit(config, written)
    assert str(only_error(config)) == (
        f"{field.file}:{line}: {field.path}: Input should be a valid boolean, true or false, "
        f"not a number (got {written})"
    )


@pytest.mark.parametrize("field", BOOL_FIELDS, ids=lambda f: f.path)
@pytest.mark.parametrize(
    "written, env, read_as",
    [
        ('"off"', {}, "'off'"),
        ("'yes'", {}, "'yes'"),
        ('"1"', {}, "'1'"),
        ("${FLAG:-on}", {}, "'on'"),
        ("${FLAG}", {"FLAG": "no"}, "'no'"),
        ("${FLAG}", {"FLAG": "enabled"}, "'enabled'"),
    ],
)
def test_a_word_other_than_true_or_false_where_a_boolean_goes_is_an_error_at_its_line(
    tmp_path: Path, field: BoolField, written: str, env: dict[str, str], read_as: str
) -> None:
    # A string is a variable's value or a quoted word; pydantic would read yes/on/1 as true,
    # no/off/0 as false. Only what YAML itself reads as true or false is taken.
    config = config_copy(tmp_path)
    line = field.edit(config, written)
    assert str(only_error(config, env)) == (
        f"{field.file}:{line}: {field.path}: Input should be a valid boolean, true or false "
        f"(got {read_as})"
    )


@pytest.mark.parametrize("field", BOOL_FIELDS, ids=lambda f: f.path)
def test_a_boolean_written_or_from_a_variable_still_loads(tmp_path: Path, field: BoolField) -> None:
    cases: list[tuple[str, dict[str, str], bool]] = [
        ("true", {}, True),
        ("false", {}, False),
        ("off", {}, False),  # YAML reads it as a boolean itself
        ("${FLAG}", {"FLAG": "true"}, True),
        ("${FLAG}", {"FLAG": "false"}, False),
        ("${FLAG}", {"FLAG": "TRUE"}, True),
        ("${FLAG}", {"FLAG": "False"}, False),
        ("${FLAG:-false}", {}, False),
        ("${FLAG:-true}", {}, True),
    ]
    for place, (written, env, value) in enumerate(cases):
        (tmp_path / str(place)).mkdir()
        config = config_copy(tmp_path / str(place))
        field.edit(config, written)
        assert field.read(load_config(config, env=env)) is value, (written, env)


# -- numbers, finite --------------------------------------------------------------------------

# A tolerance has only a lower bound: nothing but finiteness keeps `.inf` out of it.
SHADOW_TOLERANCE = NumberField(
    "routes.yaml",
    "    backend: cloud   ",
    "    backend: cloud\n    shadow:\n      backend: legacy\n      sample: 0.1\n"
    "      operations: [customers.read]\n      tolerance:\n        absolute: VALUE\n   ",
    "rules[0].shadow.tolerance.absolute",
    "a valid number",
    2,
    lambda c: (c.routes.rules[0].shadow or pytest.fail("no shadow")).tolerance.absolute,
    below=6,
)


@pytest.mark.parametrize("field", [*NUMBER_FIELDS, SHADOW_TOLERANCE], ids=lambda f: f.path)
@pytest.mark.parametrize(
    "written, read_as", [(".inf", ".inf"), ("-.inf", "-.inf"), (".nan", ".nan"), (".Inf", ".inf")]
)
def test_an_infinite_or_not_a_number_is_an_error_at_its_line(
    tmp_path: Path, field: NumberField, written: str, read_as: str
) -> None:
    # pydantic reads inf and nan as floats; a bound above refused inf in words of the bound
    # ("less than or equal to 120"), and a field with none, or a list's item, took it.
    config = config_copy(tmp_path)
    line = field.edit(config, written)
    assert str(only_error(config)) == (
        f"{field.file}:{line}: {field.path}: Input should be a finite number (got {read_as})"
    )


@pytest.mark.parametrize(
    "field",
    [f for f in [*NUMBER_FIELDS, SHADOW_TOLERANCE] if f.expects == "a valid number"],
    ids=lambda f: f.path,
)
@pytest.mark.parametrize(
    "written, env",
    [
        ("${NUMBER:-inf}", {}),
        ("${NUMBER}", {"NUMBER": "nan"}),
        ("${NUMBER}", {"NUMBER": "-Infinity"}),
    ],
)
def test_an_infinite_number_from_a_variable_is_an_error_at_its_line(
    tmp_path: Path, field: NumberField, written: str, env: dict[str, str]
) -> None:
    # pydantic reads "inf", "nan" and "infinity" as floats too. (An integer's field refuses
    # them already: they are no integer's digits.)
    config = config_copy(tmp_path)
    line = field.edit(config, written)
    shown = env.get("NUMBER", "inf")
    assert str(only_error(config, env)) == (
        f"{field.file}:{line}: {field.path}: Input should be a finite number (got {shown!r})"
    )


def test_a_tolerance_written_or_from_a_variable_still_loads(tmp_path: Path) -> None:
    SHADOW_TOLERANCE.edit(config_copy(tmp_path), "${NUMBER:-2}")
    config = load_config(tmp_path / "config", env={})
    assert SHADOW_TOLERANCE.read(config) == SHADOW_TOLERANCE.number


# -- ${VAR:-default} ----------------------------------------------------------------------------


def test_a_variable_default_applies_when_the_variable_is_unset(tmp_path: Path) -> None:
    config = load_config(REPO, env={})
    assert config.backends["legacy"].base_url == "http://127.0.0.1:9101"


def test_a_set_variable_replaces_its_reference(tmp_path: Path) -> None:
    config = load_config(REPO, env={"GATEWAY_CLOUD_URL": "http://10.1.2.3:8443"})
    assert config.backends["cloud"].base_url == "http://10.1.2.3:8443"


def test_an_unset_variable_without_default_is_an_error_at_its_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(
        config,
        "backends/legacy.yaml",
        "${GATEWAY_LEGACY_URL:-http://127.0.0.1:9101}",
        "${LEGACY_BASE_URL}",
    )
    issue = only_error(config)
    assert (issue.file, issue.line) == ("backends/legacy.yaml", line)
    assert "LEGACY_BASE_URL is not set" in issue.message
    assert load_config(config, env={"LEGACY_BASE_URL": "http://erp:1"}).backends[
        "legacy"
    ].base_url == ("http://erp:1")


def test_expansion_follows_the_shell_rules() -> None:
    data = {
        "set": "${A}/x",
        "empty": "${E:-fallback}",
        "unset": "${U:-d}",
        "escaped": "$${A}",
        "plain": "no $ reference",
        "nested": [{"k": "${A:-ignored}"}],
    }
    expanded, problems = expand_env(data, {"A": "a", "E": ""})
    assert problems == []
    assert expanded == {
        "set": "a/x",
        "empty": "fallback",
        "unset": "d",
        "escaped": "${A}",
        "plain": "no $ reference",
        "nested": [{"k": "a"}],
    }


def test_a_malformed_or_unset_reference_is_reported_with_its_path() -> None:
    _, problems = expand_env({"a": ["${1BAD}", "${MISSING}", "${OPEN"]}, {})
    assert [(p.path, p.message.split()[0]) for p in problems] == [
        (("a", 0), "malformed"),
        (("a", 1), "environment"),
        (("a", 2), "malformed"),
    ]


def test_line_map_points_at_keys_and_list_items() -> None:
    document = parse_yaml("a:\n  b:\n    - x\n    - y: 1\n      z: 2\n")
    assert document.line_of(("a", "b", 1, "z")) == 5
    assert document.line_of(("a", "b", 1, "nope")) == 4  # the deepest node that exists
    assert document.line_of(("a", "list[str]", "b", 0)) == 3  # validator steps are skipped


def test_the_optional_api_versions_policy_is_loaded_when_present(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    assert load_config(config, env={}).api_versions.default == "v2"  # the newest by default
    (config / "policies/api-versions.yaml").write_text(
        "default: v1\nversions:\n  v1: {deprecated: 2026-06-01, sunset: 2027-06-01}\n"
    )
    policy = load_config(config, env={}).api_versions
    assert policy.default == "v1"
    assert str(policy.versions["v1"].sunset) == "2027-06-01"


def test_an_api_versions_policy_naming_an_unknown_version_is_an_error(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    (config / "policies/api-versions.yaml").write_text("versions:\n  v7: {}\n")
    issue = only_error(config)
    assert issue.file == "policies/api-versions.yaml"
    assert "v7" in issue.message and "v1, v2" in issue.message


def test_a_sunset_for_the_newest_api_version_is_an_error(tmp_path: Path) -> None:
    # Every request of the newest version would be 410, told to move to that same version.
    config = config_copy(tmp_path)
    (config / "policies/api-versions.yaml").write_text("versions:\n  v2: {sunset: 2027-06-01}\n")
    issue = only_error(config)
    assert issue.file == "policies/api-versions.yaml"
    assert "v2" in issue.message and "newest" in issue.message


def test_a_client_pinned_to_an_unknown_api_version_is_an_error_at_its_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(
        config,
        "policies/clients.yaml",
        "    rate_limit: standard                # a tier of policies/rate-limits.yaml\n",
        "    rate_limit: standard\n    api_version: v3\n",
    )
    issue = only_error(config)
    assert (issue.file, issue.line) == ("policies/clients.yaml", line + 1)
    assert "v1, v2" in issue.message


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("  failures: 5 ", "  failures: 0 ", "breaker.failures: Input should be greater than"),
        ("  attempts: 3 ", "  attempts: 11 ", "retries.attempts: Input should be less than"),
        ("  max_backoff_s: 1 ", "  max_backoff_s: 0.01 ", "max_backoff_s: below backoff_s"),
        (
            "# connect_timeout_s: 2 ",
            "connect_timeout_s: 9 ",
            "connect_timeout_s: above timeout_s (5)",
        ),
    ],
    ids=["breaker failures", "retry attempts", "backoff over its max", "connect over the whole"],
)
def test_resilience_settings_out_of_range_are_errors_at_their_line(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "backends/legacy.yaml", old, new)
    error = only_error(config)
    assert (error.file, error.line) == ("backends/legacy.yaml", line)
    assert says in error.message, error.message


def test_an_unknown_key_a_merge_key_brings_in_is_named_at_a_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    legacy = config / "backends" / "legacy.yaml"
    legacy.write_text(legacy.read_text() + "\n<<: {timeout_sec: 5}\n")
    (error,) = errors_in(config)
    assert error.file == "backends/legacy.yaml" and error.line is not None
    assert "unknown key 'timeout_sec'" in error.message
    (tmp_path / "nested").mkdir()
    clients = config_copy(tmp_path / "nested") / "policies" / "clients.yaml"
    clients.write_text(
        clients.read_text() + '  - <<: {id: c2, scopes: [customers:read], legal_entities: "*",'
        " rate_limit: standard, rate_limt: x}\n"
    )
    (error,) = errors_in(clients.parent.parent)
    assert "rate_limt" in error.message and error.line is not None


def test_a_key_that_overrides_a_merged_one_is_no_duplicate(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    clients = config / "policies" / "clients.yaml"
    clients.write_text(
        "defaults: &defaults {scopes: [customers:read], legal_entities: '*', "
        "rate_limit: standard}\n"
        + clients.read_text().replace(
            "clients:\n",
            "clients:\n  - <<: *defaults\n    id: c2\n    scopes: [sales_orders:read]\n",
            1,
        )
    )
    issues = errors_in(config)
    assert not any("more than once" in i.message or "duplicate" in i.message for i in issues)


@pytest.mark.parametrize("written", ["off", "Off", "OFF", '"off"'])
def test_replicate_customers_off_loads_written_bare_though_yaml_reads_it_false(
    tmp_path: Path, written: str
) -> None:
    # YAML 1.1 reads a bare off as the boolean false: the one value of the setting that YAML
    # takes for something else.
    config = config_copy(tmp_path)
    edit(config, "routes.yaml", "replicate_customers: on_demand", f"replicate_customers: {written}")
    assert errors_in(config, DEMO_EVENT_SECRETS) == []
    loaded = load_config(config, env=DEMO_EVENT_SECRETS)
    assert loaded.routes.replicate_customers.value == "off"


def test_replicate_customers_true_is_no_value_of_it(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "routes.yaml", "replicate_customers: on_demand", "replicate_customers: on")
    issue = only_error(config, DEMO_EVENT_SECRETS)
    assert (issue.file, issue.line) == ("routes.yaml", line)
    assert "'on_demand' or 'off'" in issue.message and "(got true)" in issue.message


def test_an_idempotency_requirement_off_loads_written_bare(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    edit(config, "policies/idempotency.yaml", "customers.create: optional", "customers.create: off")
    assert errors_in(config, DEMO_EVENT_SECRETS) == []
    loaded = load_config(config, env=DEMO_EVENT_SECRETS)
    assert loaded.idempotency.operations[Operation.CUSTOMERS_CREATE].value == "off"


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("2026-12-01", "a date alone (YAML reads it so) names no second nor offset"),
        ("2026-12-01T06:00:00", "it has no offset"),
        ("'2026-12-01T06:00:00'", "it has no offset (got '2026-12-01T06:00:00')"),
        ("2026-12-01 06:00:00", "it has no offset"),
    ],
)
def test_a_wave_time_without_its_offset_is_an_error_saying_how_to_write_it(
    tmp_path: Path, written: str, why: str
) -> None:
    """pydantic said only "Input should have timezone info" (and nothing of what was written:
    YAML had read it as a date or a time, no text to show), where a number is told the form."""
    config = config_copy(tmp_path)
    line = edit(
        config,
        "routes.yaml",
        "    backend: cloud ",
        f"    effective_from: {written}\n    backend: cloud ",
    )
    assert str(only_error(config, env=DEMO_EVENT_SECRETS)) == (
        f"routes.yaml:{line}: rules[0].effective_from: must be an RFC 3339 time with an "
        f"offset, e.g. 2026-12-01T06:00:00Z: {why}"
    )


def test_a_negative_retry_delay_is_an_error_at_its_own_line(tmp_path: Path) -> None:
    """It was said at the `delivery:` line, the schedule's checks being the policy's."""
    config = config_copy(tmp_path)
    line = edit(
        config,
        "policies/subscriptions.yaml",
        "retry_schedule_s: [1, 2, 4]",
        "retry_schedule_s:\n    - 1\n    - -2\n    - 4",
    )
    issue = only_error(config, env=DEMO_EVENT_SECRETS)
    assert (issue.file, issue.line) == ("policies/subscriptions.yaml", line + 2)
    assert issue.message.startswith("delivery.retry_schedule_s[1]: "), issue.message
    assert "greater than or equal to 0" in issue.message, issue.message
