"""The commands that operate a running gateway, as an operator runs them: `gateway migrate`,
`gateway xref export` and `gateway xref import`, and `gateway plan` on two routes files."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import httpx

from tests.e2e import payloads
from tests.e2e.gateways import token_for
from tests.servers import run_cli


def _gateway(
    *args: str, token: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, admin_token=token, stdin=stdin)


def test_migrate_copies_a_legal_entitys_customers_and_says_so(
    api: httpx.Client, gateway_url: str, config_dir: Path
) -> None:
    created = [api.post("/v1/customers", json=payloads.customer("SG01")) for _ in range(3)]
    assert all(r.status_code == 201 for r in created)
    admin = token_for("ops-admin", config_dir)
    result = _gateway(
        "migrate", "--legal-entity", "SG01", "--to", "cloud", "--url", gateway_url, token=admin
    )
    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stdout and "0 failed" in result.stdout
    again = _gateway(
        "migrate", "--legal-entity", "SG01", "--to", "cloud", "--url", gateway_url, token=admin
    )
    assert again.returncode == 0 and "(copied 0)" in again.stdout


def test_migrate_without_a_valid_token_says_how_to_give_one(gateway_url: str) -> None:
    result = _gateway(
        "migrate", "--legal-entity", "SG01", "--to", "cloud", "--url", gateway_url, token="x"
    )
    assert result.returncode == 1
    assert "401" in result.stderr and "GATEWAY_ADMIN_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_against_no_gateway_is_one_line(tmp_path: Path) -> None:
    result = _gateway(
        "migrate",
        "--legal-entity",
        "SG01",
        "--to",
        "cloud",
        "--url",
        "http://127.0.0.1:9",
        token="x",
    )
    assert result.returncode == 1
    assert "cannot reach the gateway" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_xref_export_then_import_with_a_bad_row_reported_by_its_line(
    api: httpx.Client, gateway_url: str, config_dir: Path, tmp_path: Path
) -> None:
    customer = api.post("/v1/customers", json=payloads.customer("GB01")).json()
    order = api.post(
        "/v1/sales-orders",
        json=payloads.order("GB01", customer["id"]),
        headers=payloads.new_key(),
    ).json()
    admin = token_for("ops-admin", config_dir)
    exported = tmp_path / "gb01.csv"
    result = _gateway(
        "xref",
        "export",
        "--legal-entity",
        "GB01",
        "--out",
        str(exported),
        "--url",
        gateway_url,
        token=admin,
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(exported.read_text())))
    assert {r["gateway_id"] for r in rows} >= {customer["id"], order["id"]}

    mappings = tmp_path / "moved.csv"
    mappings.write_text(
        "kind,gateway_id,source_backend,source_erp_id,target_backend,target_erp_id,"
        "target_document_number\n"
        f"sales_order,{order['id']},,,cloud,88001,SO-88001\n"
        "sales_order,so_doesnotexist,,,cloud,88002,SO-88002\n"
    )
    dry = _gateway("xref", "import", str(mappings), "--dry-run", "--url", gateway_url, token=admin)
    assert dry.returncode == 1
    assert f"{mappings}:3: no sales_order so_doesnotexist in the gateway" in dry.stderr
    assert "nothing bound (dry run)" in dry.stdout
    assert api.get(f"/v1/sales-orders/{order['id']}").status_code == 200  # still at home
    piped = _gateway(
        "xref", "import", "-", "--dry-run", "--url", gateway_url, token=admin,
        stdin=mappings.read_text(),
    )  # fmt: skip
    assert "-:3: no sales_order so_doesnotexist in the gateway" in piped.stderr, piped.stderr
    assert "2 row(s): 1 valid, 1 refused; nothing bound (dry run)" in piped.stdout
    done = _gateway("xref", "import", str(mappings), "--url", gateway_url, token=admin)
    assert "2 row(s): 1 valid, 1 refused; 1 bound" in done.stdout, done.stdout + done.stderr


def test_plan_prints_what_changes(tmp_path: Path, config_dir: Path) -> None:
    old = config_dir / "routes.yaml"
    new = tmp_path / "routes.yaml"
    new.write_text(
        old.read_text().replace(
            "\nrules:\n",
            "\nrules:\n  - {id: sg-wave, match: {legal_entities: [SG01]}, backend: cloud,\n"
            "     effective_from: 2030-01-01T00:00:00Z}\n",
            1,
        )
    )
    result = _gateway("plan", str(old), str(new), "--config-dir", str(config_dir))
    assert result.returncode == 0, result.stderr
    assert (
        "SG01 every operation: legacy -> cloud from 2030-01-01T00:00:00Z (rule sg-wave)"
        in result.stdout
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    refused = _gateway("plan", str(old), str(broken))
    assert refused.returncode == 1 and f"{broken}:" in refused.stderr


def test_explain_asks_a_running_gateway_for_its_routes_and_the_customers_home(
    api: httpx.Client, gateway_url: str, config_dir: Path
) -> None:
    created = api.post("/v1/customers", json=payloads.customer("DE01"))
    assert created.status_code == 201, created.text
    customer = created.json()["id"]
    admin = token_for("ops-admin", config_dir)
    asked = (
        "explain", "--url", gateway_url, "--operation", "sales_orders.create",
        "--legal-entity", "DE01",
    )  # fmt: skip
    result = _gateway(*asked, "--customer-id", customer, token=admin)
    assert result.returncode == 0, result.stderr
    assert "Decision: legacy" in result.stdout
    assert "Note: this customer's home is legacy as well." in result.stdout
    assert "not in the gateway's store" not in result.stderr
    unknown = _gateway(*asked, "--customer-id", "cus_00000000000000000000000000", token=admin)
    assert unknown.returncode == 0, unknown.stderr
    assert "Decision: legacy" in unknown.stdout
    assert "customer cus_00000000000000000000000000 is not in the gateway's store" in (
        unknown.stderr
    )
    refused = _gateway(*asked, token="not-a-token")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
