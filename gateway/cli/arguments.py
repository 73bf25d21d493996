"""The command line's parsing: the parser and its help, and the types of the values its options
take, each refusing a bad value in one line that says what to give instead."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import math
from collections.abc import Callable
from typing import Any

from gateway.cli.base import CONFIG_DIR_ENV
from gateway.domain.digits import ascii_digits


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it has none (the help text then says what applies)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse, with a bad argument told in two lines rather than the whole usage."""

    def error(self, message: str) -> Any:  # argparse's signature returns NoReturn
        self.exit(2, f"{self.prog}: {message}\n(see `{self.prog} --help`)\n")


def verbs(parser: argparse.ArgumentParser, dest: str, metavar: str) -> Any:
    """The sub-commands of a command (`xref export|import`): add each with `verb`."""
    return parser.add_subparsers(dest=dest, required=True, metavar=metavar, parser_class=Parser)


def verb(verbs: Any, name: str, summary: str, run: Callable[[argparse.Namespace], int]) -> Any:
    """One sub-command, `run` when it is given."""
    parser = verbs.add_parser(name, help=summary, formatter_class=HelpFormatter)
    parser.set_defaults(func=run)
    return parser


def add_config_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-dir",
        metavar="DIR",
        help=f"where routes.yaml, backends/ and policies/ are (default: ${CONFIG_DIR_ENV} or .)",
    )


def iso_time(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 time; write e.g. 2026-12-01T06:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def port(value: str) -> int:
    """A TCP port to listen on, 1 to 65535."""
    if not ascii_digits(value) or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port; give one from 1 to 65535")
    return int(value)


def at_least(least: int) -> Callable[[str], int]:
    """A whole number of at least `least` (a limit below it would refuse every request)."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if number < least:
            raise argparse.ArgumentTypeError(f"{value} is too small; give at least {least}")
        return number

    return parse


def seconds(value: str) -> float:
    """A positive number of seconds."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    if math.isinf(number):  # a limit never reached: a drain that holds SIGTERM for good
        raise argparse.ArgumentTypeError(f"{value} is not a finite number of seconds")
    return number


def listen_host(value: str) -> str:
    """An address to listen on: a name, an IPv4 address, or an IPv6 address, which may come in
    brackets as a URL writes it (`[::1]`, its zone's `%` escaped as `%25`): people copy it
    from a URL, and a socket takes it without them."""
    if not (value.startswith("[") or value.endswith("]")):
        return value
    inside = value[1:-1].replace("%25", "%") if len(value) > 1 else ""
    if value.startswith("[") and value.endswith("]"):
        try:
            ipaddress.IPv6Address(inside)
        except ValueError:
            pass
        else:
            return inside
    raise argparse.ArgumentTypeError(
        f"{value!r} is no IPv6 address in brackets; give an IPv6 address with or without "
        "them ([::1] or ::1), an IPv4 address or a name without (127.0.0.1, localhost)"
    )
