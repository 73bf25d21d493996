"""`gateway doctor` against live ERPs (the simulators over real sockets): ready systems pass
every check; a system without the gateway's custom fields is named, with the fix; a wrong
password or an unreachable ERP stops at the login."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.configs import WEBHOOK_SECRET, WEBHOOK_SECRET_ENV
from tests.servers import PYTHON, free_port, run_process

REPO = Path(__file__).resolve().parents[2]
URL_ENV = {"legacy": "GATEWAY_LEGACY_URL", "cloud": "GATEWAY_CLOUD_URL"}
MISSING_FIELDS = {
    "legacy": ["YY1_GatewayRef_SDH on A_BusinessPartner", "YY1_GatewayRef_SDH on A_SalesOrder",
               "YY1_CreditLimit_bus on A_BusinessPartner"],
    "cloud": ["salesOrder.custbody_credit_hold"],
}  # fmt: skip


def doctor(backend: str, url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`gateway doctor` where the gateway's configuration is set up (its webhook secret too:
    unset, the load warns of it on stderr)."""
    return subprocess.run(
        [PYTHON, "-m", "gateway.cli", "doctor", backend, "--config-dir", str(REPO), *args],
        env={**os.environ, WEBHOOK_SECRET_ENV: WEBHOOK_SECRET, URL_ENV[backend]: url, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def failed(output: str) -> list[str]:
    return [line.strip()[len("FAIL ") :] for line in output.splitlines() if "FAIL " in line]


@contextlib.contextmanager
def simulator_without_custom_fields(erp: str) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [PYTHON, "-m", "gateway.cli", "simulate", erp, "--port", str(port), "--no-custom-fields"]
    with run_process(args, url + "/_sim/stats", expect=200):
        yield url


@pytest.mark.parametrize("backend", ["legacy", "cloud"])
def test_doctor_passes_against_a_simulator_set_up_as_the_gateway_needs(
    backend: str, legacy_url: str, cloud_url: str
) -> None:
    url = {"legacy": legacy_url, "cloud": cloud_url}[backend]
    result = doctor(backend, url, "--demo-credentials")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == f"{backend}: ready for the gateway"
    checks = [line for line in lines if line.startswith("  ok ")]
    names = " ".join(checks)
    assert "logon:" in names or "login:" in names
    assert "custom field" in names and ("value map" in names or "materials" in names)
    assert not failed(result.stdout)


@pytest.mark.parametrize("backend", ["legacy", "cloud"])
def test_doctor_names_each_missing_custom_field_with_its_fix(backend: str) -> None:
    with simulator_without_custom_fields(backend) as url:
        result = doctor(backend, url, "--demo-credentials")
    assert result.returncode == 1, result.stdout
    failures = failed(result.stdout)
    assert [f.split(":", 1)[0] for f in failures] == [
        f"custom field {field}" for field in MISSING_FIELDS[backend]
    ]
    assert all("Fix: create" in f for f in failures)
    assert result.stdout.splitlines()[-1] == f"{backend}: {len(failures)} check(s) failed"


def test_doctor_stops_at_a_refused_logon(legacy_url: str) -> None:
    result = doctor("legacy", legacy_url, LEGACY_ERP_USER="INTRUDER", LEGACY_ERP_PASSWORD="wrong")
    assert result.returncode == 1
    (failure,) = failed(result.stdout)
    assert failure.startswith("logon: SAP refused user INTRUDER in client 100 (HTTP 401)")


@pytest.mark.parametrize("backend", ["legacy", "cloud"])
def test_doctor_says_when_the_erp_cannot_be_reached(backend: str) -> None:
    result = doctor(backend, f"http://127.0.0.1:{free_port()}", "--demo-credentials")
    assert result.returncode == 1
    (failure,) = failed(result.stdout)
    assert "could not be reached" in failure and "Fix: check base_url" in failure


def test_doctor_refuses_an_unknown_backend_in_one_line() -> None:
    unknown = subprocess.run(
        [PYTHON, "-m", "gateway.cli", "doctor", "erp3", "--config-dir", str(REPO)],
        env={**os.environ, WEBHOOK_SECRET_ENV: WEBHOOK_SECRET},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        "gateway doctor: no backend 'erp3' in backends/ (known: cloud, legacy)"
    )


def test_the_readme_shows_what_doctor_prints_against_the_legacy_simulator(
    legacy_url: str,
) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Connecting a real ERP") : readme.index("## Reference")]
    command = ".venv/bin/gateway doctor legacy --demo-credentials"
    assert f"```sh\n{command}\n```" in section
    shown = section.split(f"{command}\n```\n\n```text\n", 1)[1].split("```", 1)[0]
    result = doctor("legacy", legacy_url, "--demo-credentials")
    printed = result.stdout.replace(legacy_url, "http://127.0.0.1:9101")
    assert printed == shown
