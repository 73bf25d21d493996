"""What every command shares: the error for a mistake the person at the keyboard can fix, the
configuration directory and its loading, the log level.

Light on purpose: a command imports what it needs itself, so that `gateway token` does not load
the server.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.config.issues import ConfigError

if TYPE_CHECKING:
    from gateway.config.loader import AuthFiles, GatewayConfig

CONFIG_DIR_ENV = "GATEWAY_CONFIG_DIR"
REDIS_URL_ENV = "GATEWAY_REDIS_URL"
LOG_LEVEL_ENV = "GATEWAY_LOG_LEVEL"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class CommandError(Exception):
    """A mistake the person at the keyboard can fix; the message says how (one or two lines)."""


def config_dir(value: str | None) -> Path:
    return Path(value or os.environ.get(CONFIG_DIR_ENV) or ".")


def load(directory: Path, *, serving: bool = False) -> GatewayConfig:
    """The configuration in `directory`; a CommandError naming each file and line if refused;
    `serving`: for a gateway that will serve it (see `configuration.SERVING_CHECKS`)."""
    from gateway import configuration  # the loader and its models: only for commands that load

    try:
        return configuration.load(directory, serving=serving)
    except ConfigError as exc:
        raise _refused(exc) from None


def load_auth(directory: Path) -> AuthFiles:
    """The issuers and clients in `directory` alone (see `loader.load_auth`): what a token
    needs, whatever else is broken; a CommandError naming each file and line if refused."""
    from gateway.config.loader import load_auth as load_auth_files

    try:
        return load_auth_files(directory)
    except ConfigError as exc:
        raise _refused(exc) from None


def _refused(exc: ConfigError) -> CommandError:
    return CommandError(f"{exc}\nFix the file(s) above; `gateway check` lists every issue.")


def log_level() -> str:
    """GATEWAY_LOG_LEVEL, in any case (`debug`, as most tools write it); INFO if unset."""
    given = os.environ.get(LOG_LEVEL_ENV, "INFO")
    level = given.strip().upper()
    if level not in _LOG_LEVELS:
        raise CommandError(
            f"{LOG_LEVEL_ENV}={given} is not a log level; use one of {', '.join(_LOG_LEVELS)}"
        )
    return level


def text_lines(file: str, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file the command was given (`-`: standard input); a CommandError
    when it cannot be read or is not text in `encoding`."""
    try:
        if file == "-":
            return sys.stdin.read().splitlines()
        return Path(file).read_text(encoding=encoding).splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{file} is not UTF-8 text") from None
