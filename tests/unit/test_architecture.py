"""The package's layers (README, "How it is built"), enforced: the import contracts in
pyproject.toml hold, and a backwards import breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """Run the contracts of `project`'s pyproject.toml against the packages in `project`."""
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_of_the_project(target: Path) -> Path:
    for package in ("gateway", "erp_simulators"):
        shutil.copytree(REPO / package, target / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(REPO / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "backwards", "broken"),
    [
        # The domain reaching up into the pipeline: the layers contract breaks.
        (
            "gateway/domain/ids.py",
            "gateway.pipeline.context",
            "gateway.domain.ids -> gateway.pipeline.context",
        ),
        # A simulator leaning on the gateway's models: its own contract breaks.
        (
            "erp_simulators/sap/catalog.py",
            "gateway.domain.models",
            "The simulators import nothing of the gateway BROKEN",
        ),
    ],
)
def test_a_backwards_import_breaks_a_contract(
    tmp_path: Path, module: str, backwards: str, broken: str
) -> None:
    project = _copy_of_the_project(tmp_path)
    source = project / module
    source.write_text(source.read_text() + f"\nimport {backwards}\n")
    result = _lint_imports(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout
