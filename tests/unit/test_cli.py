"""The `gateway` command as a user runs it: check, explain, token, schema."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jwt

from gateway.config.schemas import schema_documents
from tests.servers import PYTHON

REPO = Path(__file__).resolve().parents[2]


def _gateway(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def _copy_config(tmp_path: Path) -> Path:
    for name in ("routes.yaml",):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "backends", tmp_path / "backends")
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    return tmp_path


def test_check_passes_on_the_shipped_configuration() -> None:
    result = _gateway("check", "--config-dir", str(REPO))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout


def test_check_names_file_and_line_of_each_error_and_exits_1(tmp_path: Path) -> None:
    config = _copy_config(tmp_path)
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
    assert "na-on-cloud" in result.stdout


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
    assert message.startswith(f"cannot write the schemas to {blocker / 'schemas'}: ")
