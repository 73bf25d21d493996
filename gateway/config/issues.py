"""Configuration issues: where each config file lives, one issue at a file and line, the error.

Not the checks that find issues (see `loader.py` and `lint.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# Where each part of the configuration lives, relative to the config directory.
ROUTES_FILE = "routes.yaml"
BACKENDS_DIR = "backends"
POLICIES_DIR = "policies"
AUTH_FILE = "policies/auth.yaml"
CLIENTS_FILE = "policies/clients.yaml"
RATE_LIMITS_FILE = "policies/rate-limits.yaml"
IDEMPOTENCY_FILE = "policies/idempotency.yaml"
OPERATIONS_FILE = "policies/operations.yaml"
API_VERSIONS_FILE = "policies/api-versions.yaml"
SUBSCRIPTIONS_FILE = "policies/subscriptions.yaml"
# The files the gateway runs without: what applies in their place.
OPTIONAL_FILES = {
    IDEMPOTENCY_FILE: "the built-in idempotency retention and operations that take keys",
    OPERATIONS_FILE: "the built-in request timeout and retention of the journal, audit trail "
    "and events",
    API_VERSIONS_FILE: "every API version current, the newest the default",
    SUBSCRIPTIONS_FILE: "no webhook subscriptions",
}

# What the YAML files of a folder of the configuration (backends/, policies/) end in.
YAML_SUFFIXES = (".yaml", ".yml")


def yaml_files(directory: Path) -> list[Path]:
    """The YAML files in `directory`, sorted: what the loader reads and the reload watcher
    watches, one rule for both. A dotfile is none (an editor's side file: Emacs's lock
    `.#legacy.yaml`, macOS's `._legacy.yaml`, Vim's `.legacy.yaml.swp`), nor is a file ending
    otherwise (Emacs's backup `legacy.yaml~`): read as a backend, each refused the
    configuration while the editor had the file open."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if not path.name.startswith(".") and path.suffix in YAML_SUFFIXES
    )


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in the configuration; only errors stop the gateway from loading it."""

    file: str  # relative to the config directory
    line: int | None
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be loaded; `issues` holds every problem found, and `version`
    the refused files' digest where they were read (as a loaded configuration's version), so
    that the same files refused again can be told from a new edit."""

    def __init__(self, issues: Sequence[ConfigIssue], version: str | None = None) -> None:
        self.issues = list(issues)
        self.version = version
        super().__init__(str(self))

    @property
    def errors(self) -> list[ConfigIssue]:
        """The issues that refused the configuration: what a refusal says, not the warnings
        that the same files would also be loaded with."""
        return [i for i in self.issues if i.severity == "error"]

    def __str__(self) -> str:
        head = f"invalid configuration ({len(self.errors)} error(s)):"
        return "\n".join([head, *(f"  {i}" for i in self.errors)])
