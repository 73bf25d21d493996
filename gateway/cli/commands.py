"""The commands, and `main`: the one command asked for is imported, given its arguments, run.

Each command is the module `gateway.cli.<name>`, with `arguments(parser)`, which adds its
options and sets the function to run (`func`), beside that function.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence

from gateway import MISSING_MULTIPROC_DIR, MULTIPROC_DIR_ENV
from gateway.cli.arguments import HelpFormatter, Parser
from gateway.cli.base import CommandError

COMMANDS = {
    "demo": "the gateway and both ERP simulators, ready for the tour",
    "serve": "serve the gateway (uvicorn, uvloop, httptools)",
    "simulate": "run one ERP simulator",
    "check": "validate routes, backends and policies (exit 1 on errors)",
    "explain": "which rule and backend a request would get, and why",
    "token": "mint a token from the demo issuer (development only)",
    "schema": "write the config files' JSON Schemas, for editors and their YAML support",
    "plan": "what a new routes.yaml would change, for review before it goes live",
    "migrate": "copy a legal entity's customers to another ERP (a running gateway)",
    "xref": "the ID cross-reference as CSV (a running gateway)",
    "events": "webhook deliveries of domain events",
    "shadow": "shadow traffic: evidence before a move",
    "audit": "the hash-chained audit trail",
    "doctor": "check a live ERP is set up as the gateway needs (login, services, custom fields, "
    "value maps); exit 1 if not",
    "changelog": "the API changelog, generated from the version changes",
}
"""Each command's summary, in the order `gateway --help` lists them."""


def parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser, with the options of the command `argv` names (the others' only by name)."""
    description = f"The `gateway` command: {', '.join(COMMANDS)}."
    top = Parser(prog="gateway", description=description, formatter_class=HelpFormatter)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    chosen = next((a for a in argv if not a.startswith("-")), None)  # after `-h`, `--`...
    for name, summary in COMMANDS.items():
        command = sub.add_parser(
            name, help=summary, description=summary, formatter_class=HelpFormatter
        )
        if name == chosen:
            importlib.import_module(f"gateway.cli.{name}").arguments(command)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    try:  # Ctrl-C as the command's module is imported (a tenth of a second): as below
        args = parser(given).parse_args(given)
    except KeyboardInterrupt:
        return 130
    try:
        if MISSING_MULTIPROC_DIR is not None:
            raise CommandError(
                f"{MULTIPROC_DIR_ENV}={MISSING_MULTIPROC_DIR} is not a directory; create it "
                "(empty), or unset it"
            )
        result: int = args.func(args)
        sys.stdout.flush()  # here, where a reader gone away is caught (not at exit)
    except CommandError as exc:
        print(f"gateway {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of the output went away (`gateway plan ... | head -2`): what it wanted
        # it has. Python would print a traceback at exit flushing stdout into the closed pipe.
        _output_dropped()
        return 1
    except OSError as exc:
        if exc.errno not in _OUTPUT_FULL:
            raise
        # Standard output on a full disk (`gateway changelog > /dev/full`): one line, not a
        # traceback now and another at exit, when Python flushes what is left.
        _output_dropped()
        print(f"gateway {args.command}: cannot write the output: {exc.strerror}", file=sys.stderr)
        return 1
    return result


_OUTPUT_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _output_dropped() -> None:
    """Standard output from here on goes nowhere (what was not written is lost either way)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
