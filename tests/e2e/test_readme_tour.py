"""The README's five-minute tour and its "Operating it" walkthrough, each run as written, twice
in a row against one demo: each step prints what the README shows under it (ids, document
numbers, counts and times aside)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers import PYTHON, free_port, run_process

REPO = Path(__file__).resolve().parents[2]
MARKER = "@@step@@"
# What differs from run to run, and what it stands for when outputs are compared.
_VARYING = (
    # A customer's id ends with its canary bucket: 4 digits, from its external_ref.
    (re.compile(r"\b(cus|so|shp|inv)_[a-z2-7]{26}(?:[0-9]{4})?\b"), r"\1_ID"),
    (re.compile(r"run: \d+"), "run: RUN"),
    (re.compile(r"SO-\d{6}"), "SO-NUMBER"),
    (re.compile(r"\b0010\d{6}\b"), "SAP-NUMBER"),
    (re.compile(r'"customers":\d+,"sales_orders":\d+'), '"customers":N,"sales_orders":N'),
    (re.compile(r"^real\t\S+$", re.M), "real\tTIME"),
    (re.compile(r"^(user|sys)\t\S+\n?", re.M), ""),
    (re.compile(r"^(gateway_\w+\{[^}]*\}) [0-9.e+]+$", re.M), r"\1 N"),
)


def section_steps(start: str, end: str, at_least: int) -> list[tuple[str, str]]:
    """The (commands, expected output) pairs of the README section from `start` to `end`."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index(start) : readme.index(end)]
    steps = re.findall(r"```sh\n(.*?)```\s*```text\n(.*?)```", section, re.S)
    assert len(steps) >= at_least, f"the steps of {start!r} are not where the test looks"
    return [(commands, expected.strip()) for commands, expected in steps]


def tour_steps() -> list[tuple[str, str]]:
    return section_steps("## A five-minute tour", "## Moving a legal entity", 8)


def operating_steps() -> list[tuple[str, str]]:
    return section_steps("## Operating it", "## Connecting a real ERP", 5)


def normalized(text: str) -> str:
    for pattern, replacement in _VARYING:
        text = pattern.sub(replacement, text)
    return text.strip()


def run_tour(steps: list[tuple[str, str]], ports: dict[str, int]) -> list[str]:
    script = ""
    for commands, _ in steps:
        commands = (
            commands.replace("127.0.0.1:8080", f"127.0.0.1:{ports['gateway']}")
            .replace("127.0.0.1:9101", f"127.0.0.1:{ports['legacy']}")
            .replace("127.0.0.1:9102", f"127.0.0.1:{ports['cloud']}")
        )
        script += f"echo {MARKER}\n{commands}\n"
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    # `time` writes to the shell's stderr; it belongs to the last step's output.
    output = result.stdout + result.stderr
    return output.split(MARKER + "\n")[1:]


@pytest.mark.skipif(not shutil.which("jq"), reason="the tour uses jq (apt-get install jq)")
@pytest.mark.parametrize("section", [tour_steps, operating_steps], ids=["tour", "operating it"])
def test_the_walkthrough_prints_what_the_readme_says_twice_in_a_row(
    section: Callable[[], list[tuple[str, str]]], repo_config: Path
) -> None:
    steps = section()
    ports = {"gateway": free_port(), "legacy": free_port(), "cloud": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    args = [
        PYTHON, "-m", "gateway.cli", "demo", "--config-dir", str(repo_config),
        "--port", str(ports["gateway"]), "--legacy-port", str(ports["legacy"]),
        "--cloud-port", str(ports["cloud"]),
    ]  # fmt: skip
    with run_process(
        args, f"http://127.0.0.1:{ports['gateway']}/readyz", env=env, inherit_env=False
    ):
        for attempt in ("first", "second"):
            outputs = run_tour(steps, ports)
            assert len(outputs) == len(steps), outputs
            for number, ((_, expected), output) in enumerate(zip(steps, outputs, strict=True), 1):
                assert normalized(output) == normalized(expected), (
                    f"step {number} of the {attempt} run printed:\n{output}"
                )
