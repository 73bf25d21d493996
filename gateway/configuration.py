"""The configuration directory as the gateway reads it: every file's schema and cross-file
references (`gateway.config`), then what the routing rules decide (`gateway.routing.lint`).

Not the files' models or their parsing (see `gateway.config.loader`); only what checks a load runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gateway.config.issues import ConfigIssue
from gateway.config.lint import events_secret_issues, signing_secret_issues
from gateway.config.loader import Check, GatewayConfig, check_config, load_config
from gateway.routing.lint import routing_issues

CHECKS: tuple[Check, ...] = (routing_issues,)
# And what only a gateway that serves (or `gateway check`, for one) needs: the environment's
# webhook signing secrets and the pushing ERPs' events secrets. Other commands need not run
# where those are set.
SERVING_CHECKS: tuple[Check, ...] = (*CHECKS, events_secret_issues, signing_secret_issues)


def load(
    config_dir: str | Path, env: Mapping[str, str] | None = None, *, serving: bool = False
) -> GatewayConfig:
    """The validated configuration; raises `ConfigError` with every error, logs warnings;
    `serving`: for a gateway that will serve it (`SERVING_CHECKS`)."""
    return load_config(config_dir, env, SERVING_CHECKS if serving else CHECKS)


def check(config_dir: str | Path, env: Mapping[str, str] | None = None) -> list[ConfigIssue]:
    """Every issue, errors and warnings, in file and line order (what `gateway check` prints:
    what serving the configuration would warn of)."""
    return check_config(config_dir, env, SERVING_CHECKS)
