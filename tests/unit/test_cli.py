"""The `gateway` command as a user runs it: check, explain, token, schema, and the first ten
minutes' mistakes (busy ports, missing variables, bad arguments), each told in one or two lines."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import httpx
import jwt
import pytest

from gateway.cli.commands import COMMANDS, main
from gateway.cli.simulate import SIMULATOR_KEEPALIVE_S
from gateway.config.backends import PoolConfig
from gateway.config.loader import load_config
from gateway.config.schemas import schema_documents
from gateway.demo import DEMO_CLOUD_PRIVATE_KEY, SIMULATOR_CREDENTIALS
from gateway.pipeline.auth import DEV_DEMO_SECRET
from gateway.store.audit import (
    GENESIS,
    AuditEvent,
    ChainChunk,
    ChainHead,
    canonical,
    chained,
    export_text,
)
from tests.configs import (
    EVENTS_SECRETS,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET_ENV,
    copy_config,
    write_config,
)
from tests.servers import PYTHON, free_port, run_cli, run_process
from tests.unit.test_config_loader import line_of

REPO = Path(__file__).resolve().parents[2]


def _gateway(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env)


def test_check_passes_on_the_shipped_configuration() -> None:
    result = _gateway("check", "--config-dir", str(REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout


def test_check_names_file_and_line_of_each_error_and_exits_1(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    routes = (config / "routes.yaml").read_text()
    broken = routes.replace("    backend: cloud", "    backend: clowd", 1)
    (config / "routes.yaml").write_text(broken)
    line = next(
        n for n, text in enumerate(broken.splitlines(), 1) if text.startswith("    backend: clowd")
    )
    rates = config / "policies" / "rate-limits.yaml"
    rates.write_text(rates.read_text().replace("burst: 100", "burst: lots", 1))
    result = _gateway("check", "--config-dir", str(config))
    assert result.returncode == 1
    assert f"routes.yaml:{line}: " in result.stdout
    assert "clowd" in result.stdout
    assert "policies/rate-limits.yaml:" in result.stdout


def test_check_refuses_a_currency_map_key_that_is_no_iso_code_at_its_line(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    cloud = config / "backends" / "cloud.yaml"
    text = cloud.read_text()
    cloud.write_text(text.replace('    EUR: "4"', '    EUE: "4"', 1))
    line = text[: text.index('    EUR: "4"')].count("\n") + 1

    result = _gateway("check", "--config-dir", str(config))

    assert result.returncode == 1
    assert f"backends/cloud.yaml:{line}: value_maps.currencies.EUE: EUE is no currency" in (
        result.stdout
    )


def test_check_warns_of_a_backend_timeout_the_request_timeout_cuts_short_and_exits_0(
    tmp_path: Path,
) -> None:
    config = copy_config(tmp_path)
    legacy = config / "backends" / "legacy.yaml"
    text = legacy.read_text()
    legacy.write_text(text.replace("\ntimeout_s: 5 ", "\ntimeout_s: 20", 1))
    line = text[: text.index("\ntimeout_s: 5 ")].count("\n") + 2
    (config / "policies" / "operations.yaml").write_text("requests:\n  timeout_s: 10\n")

    result = _gateway("check", "--config-dir", str(config), env=_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"warning: backends/legacy.yaml:{line}: backend legacy's timeout_s (20 s) is not below "
        "the request timeout (requests.timeout_s: 10 at policies/operations.yaml:2)"
    ) in result.stdout
    assert "0 error(s), 1 warning(s)" in result.stdout


def _alias_bomb(levels: int) -> str:
    """Each anchor a list naming the one before ten times: 10**levels nodes once loaded."""
    lines = ["x0: &x0 [" + ", ".join(["lol"] * 10) + "]"]
    for n in range(1, levels):
        lines.append(f"x{n}: &x{n} [" + ", ".join([f"*x{n - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def _nested(depth: int) -> str:
    return "x:\n" + "".join("  " * level + "k:\n" for level in range(1, depth + 1))


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # Read by the parser, then walked once per level: Python's recursion limit, a traceback.
        (_nested(900), "nested more than"),
        ("x: " + "[" * 900 + "]" * 900 + "\n", "nested more than"),
        # Walked node by node for ever (a RecursionError), or to a million nodes and on to
        # billions (`gateway check`, `serve` and every reload hung, memory filling).
        ("x: &a [*a]\n", "an alias inside its own anchor"),
        ("x: &a {k: *a}\n", "an alias inside its own anchor"),
        (_alias_bomb(6), "aliases repeat more than"),
    ],
    ids=["deep-blocks", "deep-flow", "self-list", "self-mapping", "alias-bomb"],
)
def test_check_refuses_yaml_that_expands_past_reason_at_its_line(
    tmp_path: Path, text: str, said: str
) -> None:
    config = copy_config(tmp_path)
    routes = (config / "routes.yaml").read_text()
    (config / "routes.yaml").write_text(routes + text)
    first = routes.count("\n") + 1
    result = _gateway("check", "--config-dir", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    (error,) = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert said in error
    line = int(error.split(":")[2])
    assert line >= first, error  # in the text appended, not the shipped routes


def test_explain_names_the_rule_and_backend() -> None:
    result = _gateway(
        "explain",
        "--config-dir",
        str(REPO),
        "--operation",
        "sales_orders.create",
        "--legal-entity",
        "US01",
    )
    assert result.returncode == 0, result.stderr
    assert "Decision: cloud" in result.stdout
    assert "wave-1" in result.stdout


def test_explain_of_a_customer_says_when_it_cannot_see_its_home() -> None:
    # Without GATEWAY_REDIS_URL the command has no store of the gateway's to look in (a demo
    # keeps its own in memory): the decision is shown, and the missing home said, not hidden.
    result = _gateway(
        "explain", "--config-dir", str(REPO), "--operation", "sales_orders.create",
        "--legal-entity", "US01", "--customer-id", "cus_00000000000000000000000000",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Decision: cloud" in result.stdout
    assert "home ERP is not shown" in result.stderr and "GATEWAY_REDIS_URL" in result.stderr


@pytest.mark.parametrize(
    ("store", "said"),
    [("no-store-url", "must start with one of redis://"), ("redis://127.0.0.1:{port}/0", "--url")],
)
def test_explain_of_a_customer_in_a_store_it_cannot_open_or_reach_is_one_line(
    store: str, said: str
) -> None:
    # A GATEWAY_REDIS_URL that names no store, or a Redis that is down, was a traceback
    # (ValueError, StoreUnavailable), not a line naming the variable, as `gateway serve` says it.
    url = store.format(port=free_port())
    result = _gateway(
        "explain", "--config-dir", str(REPO), "--operation", "sales_orders.create",
        "--legal-entity", "US01", "--customer-id", "cus_00000000000000000000000000",
        env=_env(GATEWAY_REDIS_URL=url),
    )  # fmt: skip
    lines = _short_failure(result)
    assert lines[0].startswith("gateway explain: GATEWAY_REDIS_URL"), lines
    assert said in result.stderr  # for a store down: ask the running gateway instead


def test_token_mints_a_demo_token_for_the_client_and_scopes() -> None:
    result = _gateway(
        "token", "--config-dir", str(REPO), "--client", "crm-emea", "--scope", "invoices:read"
    )
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert (claims["azp"], claims["scope"], claims["iss"]) == (
        "crm-emea",
        "invoices:read",
        "https://gateway.local/demo",
    )


# -- the first ten minutes: every foreseeable mistake is one or two lines, never a traceback --

CREDENTIALS = (
    "LEGACY_ERP_USER",
    "LEGACY_ERP_PASSWORD",
    "CLOUD_ERP_CLIENT_ID",
    "CLOUD_ERP_CERTIFICATE_ID",
    "CLOUD_ERP_PRIVATE_KEY",
)
# Credentials of the right shape (the cloud ERP's private key must be one).
PRESENT = {name: SIMULATOR_CREDENTIALS[name] for name in CREDENTIALS}


def _env(**values: str) -> dict[str, str]:
    """The current environment without the gateway's own variables, plus `values`; the shipped
    subscription's signing secret and the backends' events secrets set, as where a gateway is
    deployed (unset, each load to serve warns of them, lines before the one a test looks for)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEWAY_") and k not in SIMULATOR_CREDENTIALS
    }
    return {**env, WEBHOOK_SECRET_ENV: WEBHOOK_SECRET, **EVENTS_SECRETS, **values}


def _short_failure(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    return lines


def test_serve_without_erp_credentials_names_every_missing_variable_at_once(
    repo_config: Path,
) -> None:
    result = _gateway("serve", "--config-dir", str(repo_config), env=_env())
    lines = _short_failure(result)
    for variable in CREDENTIALS:
        assert variable in lines[0]
    assert "backends/legacy.yaml" in lines[0] and "backends/cloud.yaml" in lines[0]


def test_serve_with_several_workers_on_the_memory_store_is_refused(repo_config: Path) -> None:
    result = _gateway(
        "serve", "--config-dir", str(repo_config), "--workers", "2", env=_env(**PRESENT)
    )
    lines = _short_failure(result)
    assert "GATEWAY_REDIS_URL" in lines[0]


@pytest.mark.parametrize("workers", ["0", "two", "100000"])
def test_serve_with_a_number_of_workers_it_cannot_run_says_so_before_anything_starts(
    workers: str, repo_config: Path
) -> None:
    """A typo in --workers (100000 for 10) forked worker after worker until the host ran out
    of memory: more than a few per CPU is refused, as 0 and a word are, before the files, the
    ERP credentials (unset here: they would be said first otherwise) or the port are looked
    at."""
    result = _gateway(
        "serve", "--config-dir", str(repo_config), "--port", str(free_port()),
        "--workers", workers, env=_env(GATEWAY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"),
    )  # fmt: skip
    lines = _short_failure(result)
    assert "--workers" in lines[0], lines
    assert result.returncode == 2  # a bad argument, as every other one


def test_serve_with_a_private_key_that_is_no_key_names_its_variable_in_one_line(
    repo_config: Path,
) -> None:
    credentials = {**PRESENT, "CLOUD_ERP_PRIVATE_KEY": "not a key"}
    result = _gateway("serve", "--config-dir", str(repo_config), env=_env(**credentials))
    lines = _short_failure(result)
    assert "CLOUD_ERP_PRIVATE_KEY" in lines[0] and "no usable private key" in lines[0]


def test_serve_with_a_private_key_as_an_issuers_public_key_names_the_file_and_line(
    tmp_path: Path,
) -> None:
    # It was a traceback: "ValueError: Valid PEM but no BEGIN PUBLIC KEY/END PUBLIC KEY...".
    config = copy_config(tmp_path)
    (config / "keys").mkdir()
    (config / "keys" / "partner.pem").write_text(DEMO_CLOUD_PRIVATE_KEY)
    auth = config / "policies" / "auth.yaml"
    auth.write_text(
        auth.read_text() + "  - name: partner\n    issuer: https://idp.partner.example\n"
        "    audiences: [erp-gateway]\n    algorithms: [ES256]\n"
        "    public_key_file: keys/partner.pem\n"
    )
    clients = config / "policies" / "clients.yaml"
    clients.write_text(re.sub(r"(?m)^(  - id: .*)$", r"\1\n    issuer: demo", clients.read_text()))
    line = auth.read_text().splitlines().index("    public_key_file: keys/partner.pem") + 1
    result = _gateway(
        "serve", "--config-dir", str(config), "--port", str(free_port()), env=_env(**PRESENT)
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"policies/auth.yaml:{line}: public key file 'keys/partner.pem' holds a private key" in (
        result.stderr
    )


@pytest.mark.parametrize("secret", [DEV_DEMO_SECRET, "short-secret"])
def test_serve_refuses_a_demo_secret_anyone_could_know_or_guess_in_one_line(
    secret: str, repo_config: Path
) -> None:
    result = _gateway(
        "serve", "--config-dir", str(repo_config), env=_env(GATEWAY_DEMO_SECRET=secret, **PRESENT)
    )
    lines = _short_failure(result)
    assert "GATEWAY_DEMO_SECRET" in lines[0] and "openssl rand -hex 32" in lines[0]


def test_serve_on_a_busy_port_says_so_and_how_to_choose_another(repo_config: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _gateway(
            "serve", "--config-dir", str(repo_config), "--port", str(port), env=_env(**PRESENT)
        )
    lines = _short_failure(result)
    assert f"port {port}" in lines[0] and "already in use" in lines[0]
    assert f"--port {port + 1}" in lines[1]


def test_a_demo_on_a_busy_port_points_at_make_run(repo_config: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _gateway(
            "demo", "--config-dir", str(repo_config), "--port", str(free_port()),
            "--legacy-port", str(port), "--cloud-port", str(free_port()), env=_env(),
        )  # fmt: skip
    lines = _short_failure(result)
    assert f"make run LEGACY_PORT={port + 1}" in lines[1]


def test_a_demo_on_a_busy_port_suggests_none_of_the_ports_it_was_given(repo_config: Path) -> None:
    """The gateway's port busy and the next one given to a simulator: the port after it was
    suggested, which the demo then refused as given twice."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cloud = free_port()
        result = _gateway(
            "demo", "--config-dir", str(repo_config), "--port", str(port),
            "--legacy-port", str(port + 1), "--cloud-port", str(cloud), env=_env(),
        )  # fmt: skip
    lines = _short_failure(result)
    suggested = next(p for p in range(port + 1, 65536) if p not in (port + 1, cloud))
    assert f"make run PORT={suggested} (gateway demo --port {suggested})" in lines[1], lines


def test_a_bad_argument_is_two_lines_not_the_whole_usage() -> None:
    result = _gateway(
        "explain", "--config-dir", str(REPO), "--operation", "sales_orders.create",
        "--legal-entity", "DE01", "--at", "yesterday",
    )  # fmt: skip
    lines = _short_failure(result)
    assert "ISO 8601" in lines[0]
    assert "gateway explain --help" in lines[1]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("serve", "--port", "99999"), "not a port"),
        (("demo", "--port", "70000"), "not a port"),
        (("simulate", "legacy", "--port", "70000"), "not a port"),
        (("serve", "--max-connections", "0"), "at least 1"),
        (("serve", "--max-header-bytes", "0"), "at least 1024"),
        (("demo", "--keepalive-timeout", "0"), "not a positive number of seconds"),
        # A drain that never ends holds SIGTERM for good behind a hung request.
        (("serve", "--drain-timeout", "inf"), "not a finite number of seconds"),
        (("demo", "--body-timeout", "1e999"), "not a finite number of seconds"),
        (("serve", "--host", "[127.0.0.1]"), "no IPv6 address"),
        (("simulate", "cloud", "--host", "[localhost]"), "no IPv6 address"),
        (("simulate", "legacy", "--page-size", "0"), "not a positive whole number"),
        (("events", "dead-letters", "--limit", "0"), "at least 1"),
        (("events", "dead-letters", "--limit", "-5"), "at least 1"),
        # A --url that cannot be a gateway's address was a failure (exit 1), not a bad argument.
        (("xref", "export", "--legal-entity", "DE01", "--url", ""), "not an http:// or https://"),
        (("audit", "export", "--url", "ftp://x"), "not an http:// or https://"),
        (
            (
                "explain",
                "--operation",
                "sales_orders.create",
                "--legal-entity",
                "DE01",
                "--url",
                "http://[::1",
            ),
            "not a URL",
        ),
        (("plan", "a.yaml", "b.yaml", "--shadow", "--url", "x"), "not an http:// or https://"),
    ],
)
def test_a_port_or_limit_that_cannot_work_is_two_lines(args: tuple[str, ...], said: str) -> None:
    # A port past 65535 was a traceback; a limit of 0 started a gateway that refused every
    # request (503 for every connection, 431 for every head). A page size of 0 ended in one
    # line without the command's name, exit 1; a --limit of 0 or less listed "0 dead
    # letter(s)" whatever was waiting, exit 0.
    result = _gateway(*args)
    lines = _short_failure(result)
    assert said in lines[0] and lines[0].startswith(f"gateway {args[0]}"), lines
    assert result.returncode == 2


@pytest.mark.parametrize("command", [("xref", "export"), ("audit", "export")])
def test_an_export_the_gateway_never_answers_leaves_the_previous_one_whole(
    command: tuple[str, str], tmp_path: Path
) -> None:
    """`--out` was opened, and emptied, before the request: a scheduled export whose gateway
    was down replaced yesterday's with an empty file."""
    out = tmp_path / "export.out"
    out.write_bytes(b"the previous export\n")
    result = _gateway(
        *command, "--out", str(out), "--url", "http://127.0.0.1:9",
        env={**_env(), "GATEWAY_ADMIN_TOKEN": "x"},
    )  # fmt: skip
    assert "cannot reach the gateway" in _short_failure(result)[0]
    assert out.read_bytes() == b"the previous export\n"


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:port", "ftp://127.0.0.1:8080"])
def test_a_url_that_is_no_gateway_address_is_one_line(url: str) -> None:
    """A --url httpx cannot parse was a traceback (httpx.InvalidURL); one of another scheme
    said only that the gateway could not be reached. A bad argument, as a bad port is."""
    result = _gateway("xref", "export", "--url", url, env={**_env(), "GATEWAY_ADMIN_TOKEN": "x"})
    lines = _short_failure(result)
    assert f"argument --url: {url!r} is not" in lines[0] and "http://" in lines[0], lines
    assert result.returncode == 2


@pytest.mark.parametrize("token", ["tökén", "eyJ.abc\n", "eyJ abc"])
def test_an_admin_token_that_no_header_can_carry_is_one_line(token: str) -> None:
    """A token with a character outside printable ASCII was a traceback (UnicodeEncodeError);
    one with a line break said the gateway could not be reached."""
    result = _gateway(
        "events", "dead-letters", "--url", "http://127.0.0.1:9",
        env={**_env(), "GATEWAY_ADMIN_TOKEN": token},
    )  # fmt: skip
    lines = _short_failure(result)
    assert "GATEWAY_ADMIN_TOKEN" in lines[0] and "cannot reach" not in lines[0], lines


@pytest.mark.parametrize("ttl", ["0", "-5"])
def test_a_token_lifetime_that_cannot_work_is_two_lines(ttl: str) -> None:
    # It minted a token already expired, which every request then refused 401.
    lines = _short_failure(_gateway("token", "--client", "erp-portal", "--ttl", ttl))
    assert "at least 1" in lines[0]


def test_a_token_lifetime_over_the_issuers_cap_is_refused_naming_the_cap_and_its_line() -> None:
    # The gateway would refuse the token 401: better no token than one that does not work.
    result = _gateway(
        "token", "--config-dir", str(REPO), "--client", "crm-demo", "--ttl", "315360000",
        env=_env(),
    )  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    lines = _short_failure(result)
    line = line_of(REPO, "policies/auth.yaml", "max_lifetime_s: 86400")
    assert lines[0] == (
        "gateway token: --ttl 315360000 is longer than issuer 'demo' allows: max_lifetime_s: "
        f"86400 (policies/auth.yaml:{line}); give at most 86400"
    )


def test_a_token_lifetime_at_the_issuers_cap_is_minted() -> None:
    result = _gateway(
        "token", "--config-dir", str(REPO), "--client", "crm-demo", "--ttl", "86400", env=_env()
    )
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 86400


def test_a_token_lifetime_is_unbounded_for_an_issuer_without_a_cap(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    auth = config / "policies" / "auth.yaml"
    auth.write_text(re.sub(r"(?m)^ *max_lifetime_s: .*\n", "", auth.read_text()))
    result = _gateway(
        "token", "--config-dir", str(config), "--client", "crm-demo", "--ttl", "315360000",
        env=_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 315360000


def test_a_token_without_ttl_lasts_an_hour_or_the_issuers_shorter_cap(tmp_path: Path) -> None:
    """The default hour is no lifetime the operator asked for: under a cap of ten minutes,
    `gateway token` mints for ten minutes rather than refusing a --ttl it was never given."""
    config = copy_config(tmp_path)
    auth = config / "policies" / "auth.yaml"
    auth.write_text(re.sub(r"max_lifetime_s: \d+", "max_lifetime_s: 600", auth.read_text()))
    result = _gateway("token", "--config-dir", str(config), "--client", "crm-demo", env=_env())
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600
    hour = _gateway("token", "--config-dir", str(REPO), "--client", "crm-demo", env=_env())
    claims = jwt.decode(hour.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600


def test_a_token_for_a_client_not_in_clients_yaml_comes_with_a_warning() -> None:
    result = _gateway("token", "--config-dir", str(REPO), "--client", "nobody", env=_env())
    assert result.returncode == 0
    assert "'nobody' is not in policies/clients.yaml" in result.stderr


def test_a_token_for_a_client_of_another_issuer_comes_with_a_warning(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    auth = config / "policies" / "auth.yaml"
    auth.write_text(
        auth.read_text() + "  - name: partner\n    issuer: https://idp.partner.example\n"
        "    audiences: [erp-gateway]\n    algorithms: [HS256]\n    secret_env: PARTNER_SECRET\n"
    )
    clients = config / "policies" / "clients.yaml"
    bound = re.sub(r"(?m)^(  - id: .*)$", r"\1\n    issuer: demo", clients.read_text())
    clients.write_text(re.sub(r"(crm-emea .*\n    issuer: )demo", r"\1partner", bound))
    result = _gateway("token", "--config-dir", str(config), "--client", "crm-emea", env=_env())
    assert result.returncode == 0
    assert (
        "client 'crm-emea' belongs to issuer 'partner' in policies/clients.yaml: the gateway "
        "answers 403 to a token of 'demo' for it"
    ) in result.stderr


def test_a_token_needs_only_the_policies_so_a_broken_routes_yaml_does_not_stop_it(
    tmp_path: Path,
) -> None:
    # An operator needs an admin token to fix the gateway; it needs only the issuers and clients.
    config = write_config(tmp_path)
    (config / "routes.yaml").write_text("legal_entities: [\n")
    result = _gateway("token", "--config-dir", str(config), "--client", "ops-admin", env=_env())
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert claims["azp"] == "ops-admin"
    auth = config / "policies" / "auth.yaml"
    line = len(auth.read_text().splitlines()) + 1
    auth.write_text(auth.read_text() + "unknown_key: 1\n")
    refused = _gateway("token", "--config-dir", str(config), "--client", "ops-admin", env=_env())
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    # What it reads, a mistake in it named by file and line as ever.
    assert f"policies/auth.yaml:{line}: unknown key 'unknown_key'" in refused.stderr


def test_the_help_names_every_command_in_its_first_line() -> None:
    result = _gateway("--help")
    assert result.returncode == 0
    description = result.stdout.split("\n\n")[1].replace("\n", " ")
    named = re.findall(r"\b[a-z]+\b", description.split(":", 1)[1])
    assert named == list(COMMANDS), description


def test_every_option_of_every_command_has_a_help_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process (`gateway.cli.main`, as `python -m gateway.cli` runs it): a subprocess
    # each was seconds of imports for the same text. 80 columns, as in a captured subprocess.
    monkeypatch.setenv("COLUMNS", "80")
    for command in ("demo", "serve", "simulate", "check", "explain", "token", "changelog"):
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        lines = capsys.readouterr().out.splitlines()
        for number, option in enumerate(lines):
            if not option.strip().startswith("--"):
                continue
            described = option.split(maxsplit=2)
            following = lines[number + 1] if number + 1 < len(lines) else ""
            # `--port PORT  the port ...`, or a long option whose text starts on the next line
            wrapped = following.startswith(" " * 8) and not following.strip().startswith("-")
            assert len(described) >= 2 or option.strip().endswith(("S", "N")) or wrapped, option


def test_serve_says_where_it_listens_what_store_and_backends_and_the_demo_issuer(
    repo_config: Path,
) -> None:
    port = free_port()
    env = _env(**PRESENT)
    with run_process(
        [
            PYTHON,
            "-m",
            "gateway.cli",
            "serve",
            "--config-dir",
            str(repo_config),
            "--port",
            str(port),
        ],
        f"http://127.0.0.1:{port}/healthz",
        env=env,
        inherit_env=False,
    ) as server:
        banner = server.output()
    assert f"http://127.0.0.1:{port} (1 worker)" in banner
    assert "store: memory" in banner
    assert "legacy (sap-odata-v2" in banner and "cloud (netsuite-rest" in banner
    assert "demo issuer: not trusted" in banner


def test_serve_names_each_issuer_it_turns_off_for_want_of_its_secret(tmp_path: Path) -> None:
    # An HMAC issuer whose secret is unset is off, each of its tokens refused 401; only the demo
    # issuer's was said ("demo issuer: not trusted"), another's not at all.
    config = copy_config(tmp_path)
    auth = config / "policies" / "auth.yaml"
    auth.write_text(
        auth.read_text() + "  - name: partner\n    issuer: https://idp.partner.example\n"
        "    audiences: [erp-gateway]\n    algorithms: [HS256]\n    secret_env: PARTNER_SECRET\n"
    )
    clients = config / "policies" / "clients.yaml"
    clients.write_text(re.sub(r"(?m)^(  - id: .*)$", r"\1\n    issuer: demo", clients.read_text()))
    port = free_port()
    with run_process(
        [PYTHON, "-m", "gateway.cli", "serve", "--config-dir", str(config), "--port", str(port)],
        f"http://127.0.0.1:{port}/healthz",
        env=_env(**PRESENT),
        inherit_env=False,
    ) as server:
        output = server.output()
    said = [line for line in output.splitlines() if "PARTNER_SECRET" in line]
    assert said == [
        "gateway serve: warning: issuer partner is off, its tokens refused (401): PARTNER_SECRET "
        "is unset"
    ], output
    assert "demo issuer: not trusted (GATEWAY_DEMO_SECRET unset)" in output


def test_the_demo_shows_each_request_in_one_short_line(repo_config: Path) -> None:
    ports = [free_port() for _ in range(3)]
    args = ["--port", str(ports[0]), "--legacy-port", str(ports[1]), "--cloud-port", str(ports[2])]
    with run_process(
        [PYTHON, "-m", "gateway.cli", "demo", "--config-dir", str(repo_config), *args],
        f"http://127.0.0.1:{ports[0]}/healthz",
        env=_env(),
        inherit_env=False,
    ) as demo:
        # No token: the line shows the 401 all the same.
        httpx.get(f"http://127.0.0.1:{ports[0]}/v1/sales-orders/so_x")
        end = time.monotonic() + 10
        while "GET /v1/sales-orders/so_x 401" not in demo.output():
            assert time.monotonic() < end, demo.output()
            time.sleep(0.05)
        line = next(ln for ln in demo.output().splitlines() if "/v1/sales-orders/so_x" in ln)
    assert not line.startswith("{")  # a person's line, not a JSON log record


def test_schema_writes_each_config_schema_and_names_each_file_written(tmp_path: Path) -> None:
    out = tmp_path / "new" / "schemas"
    result = _gateway("schema", "--out", str(out))
    assert result.returncode == 0, result.stderr
    expected = schema_documents()
    assert result.stdout.splitlines() == [f"wrote {out / name}" for name in expected]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {
        name: text.encode("utf-8") for name, text in expected.items()
    }


def test_schema_refuses_a_directory_it_cannot_write_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = _gateway("schema", "--out", str(blocker / "schemas"))
    assert result.returncode == 1
    [message] = result.stderr.splitlines()
    assert message.startswith(
        f"gateway schema: cannot write the schemas to {blocker / 'schemas'}: "
    )


def test_make_run_takes_the_three_ports() -> None:
    result = subprocess.run(
        ["make", "-n", "run", "PORT=8081", "LEGACY_PORT=9201", "CLOUD_PORT=9202"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "gateway demo --port 8081 --legacy-port 9201 --cloud-port 9202" in result.stdout


def test_the_readme_lists_every_command() -> None:
    readme = (REPO / "README.md").read_text()
    for command in ("demo", "serve", "simulate", "check", "explain", "plan", "migrate",
                    "xref", "token", "schema", "changelog"):  # fmt: skip
        assert f"| `gateway {command}" in readme, command


def test_the_simulators_keep_idle_connections_longer_than_the_gateway_does() -> None:
    # Else the gateway may send a request on a connection the simulator is closing at that
    # moment, and a create's outcome becomes unknown (502) for no fault of either.
    config = load_config(REPO, env=dict(SIMULATOR_CREDENTIALS))
    kept = [backend.pool.keepalive_s for backend in config.backends.values()]
    assert max([*kept, PoolConfig().keepalive_s]) < SIMULATOR_KEEPALIVE_S


def _forged_trail(path: Path, seqs: tuple[object, ...]) -> Path:
    """A trail whose hashes and links hold but whose `seq` values are `seqs`."""
    lines, prev = [], "0" * 64
    for seq in seqs:
        entry = {"seq": seq, "at": "", "kind": "k", "actor": "a", "details": {}, "prev": prev}
        prev = entry["hash"] = hashlib.sha256(canonical(entry)).hexdigest()
        lines.append(json.dumps(entry))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_audit_verify_refuses_an_entry_with_a_seq_that_is_no_number_at_its_line(
    tmp_path: Path,
) -> None:
    for seqs in (("1", 2), (1, "2"), (1, True), (1, 2.0), (1, None)):
        trail = _forged_trail(tmp_path / "forged.jsonl", seqs)
        result = _gateway("audit", "verify", "--file", str(trail))
        assert result.returncode == 1, (seqs, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        bad = 1 if isinstance(seqs[0], str) else 2
        assert f"forged.jsonl:{bad}: not an audit entry" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "line",
    [
        "[" * 100_000 + "]" * 100_000,  # deeper than the JSON parser goes
        '{"seq": 2, "prev": "p", "hash": "h", "details": "\\ud800"}',  # a lone surrogate
    ],
    ids=["deeply-nested", "lone-surrogate"],
)
def test_audit_verify_refuses_an_unreadable_line_at_its_line(tmp_path: Path, line: str) -> None:
    trail = _forged_trail(tmp_path / "odd.jsonl", (1,))
    with trail.open("a") as file:
        file.write(line + "\n")
    result = _gateway("audit", "verify", "--file", str(trail))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert "odd.jsonl:2: not an audit entry" in result.stderr, result.stderr


def test_audit_verify_checks_an_export_across_entries_trimmed_while_it_was_read(
    tmp_path: Path,
) -> None:
    lines = chained(
        [AuditEvent("transaction", "crm-demo", {"n": n}, time.time()) for n in range(7)],
        ChainHead(0, GENESIS),
    )
    gap = ChainChunk(lines[5:], json.loads(lines[4])["hash"], 6)
    trail = tmp_path / "trail.jsonl"
    trail.write_text("".join(line + "\n" for line in lines[:3]) + export_text(gap, first=False))
    result = _gateway("audit", "verify", "--file", str(trail))
    assert result.returncode == 0, result.stderr
    assert "5 entries (seq 1 to 7" in result.stdout
    assert "warning: 2 entries were trimmed" in result.stderr
    trail.write_text(trail.read_text().replace('"first_seq":6', '"first_seq":5'))
    result = _gateway("audit", "verify", "--file", str(trail))
    assert result.returncode == 1
    assert "trail.jsonl:5: sequence broken: 6 follows 4" in result.stderr, result.stderr


def test_audit_verify_warns_that_a_file_without_export_records_has_unchecked_ends(
    tmp_path: Path,
) -> None:
    trail = _forged_trail(tmp_path / "old.jsonl", (1, 2, 3))
    result = _gateway("audit", "verify", "--file", str(trail))
    assert result.returncode == 0, result.stderr
    assert "audit trail intact: 3 entries" in result.stdout
    assert "warning: the file has no export start and end records" in result.stderr


def _loaded(*argv: str) -> list[str]:
    """The modules of the server, the app, the stores and pydantic that `gateway ARGV` loads
    to parse its arguments (a probe in a fresh interpreter)."""
    probe = (
        "import sys\n"
        "from gateway.cli.commands import parser\n"
        "p = parser(sys.argv[1:])\n"
        "p.parse_args(sys.argv[1:]) if sys.argv[1:] else p.format_help()\n"
        "heavy = ('uvicorn', 'gateway.app', 'gateway.server', 'gateway.store', 'pydantic',\n"
        "         'redis')\n"
        "print(' '.join(sorted({m.split('.')[0] if m.startswith(('uvicorn', 'pydantic')) "
        "else m for m in sys.modules if m.startswith(heavy)})))\n"
    )
    run = subprocess.run([PYTHON, "-c", probe, *argv], capture_output=True, text=True, check=True)
    return run.stdout.split()


def test_a_command_loads_only_what_it_needs_not_the_server() -> None:
    # One module per command, imported only when given: `gateway --help` and `gateway
    # simulate` load none of the gateway, `gateway token` and `gateway audit verify` not the
    # server nor the app, and `token` no store (each was a second or more of imports on a
    # busy host).
    assert _loaded() == []
    for erp in ("legacy", "cloud"):
        simulator = set(_loaded("simulate", erp))
        assert "uvicorn" in simulator and simulator <= {"uvicorn", "pydantic"}, simulator
    token = _loaded("token", "--client", "crm-demo")
    for argv, loaded in (
        (("token",), token),
        (("audit", "verify"), _loaded("audit", "verify", "--file", "-")),
    ):
        assert "pydantic" in loaded  # what the probe sees: they load the configuration's models
        assert not {"uvicorn", "gateway.app", "gateway.server"} & set(loaded), argv
    # No store: the token command's verifier may count failures with the store's pure GCRA
    # (gateway.store.gcra, gateway.store.base), but loads neither store nor redis-py.
    heavy = ("gateway.store.memory", "gateway.store.redis", "gateway.store.opening", "redis")
    assert not [m for m in token if m.startswith(heavy)]
    # The commands that operate a running gateway send requests: no store, no server, no app
    # (the admin client loaded most of the gateway, two seconds a command, for a constant).
    remote = _loaded("migrate", "--legal-entity", "SG01", "--to", "cloud")
    assert set(remote) <= {"pydantic", "pydantic_core"}, remote
    assert {"uvicorn", "gateway.app", "gateway.server"} <= set(_loaded("serve"))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full to write to")
@pytest.mark.parametrize("command", ["changelog", "token"])
def test_output_to_a_full_disk_is_one_line_not_a_traceback(command: str) -> None:
    # `gateway changelog > /dev/full`: a traceback from the print, and another at exit.
    argv = {"changelog": [], "token": ["--client", "crm-demo", "--config-dir", str(REPO)]}
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [PYTHON, "-m", "gateway.cli", command, *argv[command]],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert f"gateway {command}: cannot write the output: No space left on device" in result.stderr


def test_ctrl_c_while_the_command_is_imported_ends_it_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C in a command's first tenth of a second, while its module (and what it needs:
    httpx, redis, pydantic) is imported, printed a KeyboardInterrupt traceback: the import
    was before the part of `main` that ends on Ctrl-C with 130 and nothing said."""
    from gateway.cli import commands

    def interrupted(name: str) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands.importlib, "import_module", interrupted)
    try:
        code = commands.main(["migrate", "--legal-entity", "US01", "--to", "cloud"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C went past main: Python prints its traceback")
    assert code == 130
    assert capsys.readouterr().err == ""
