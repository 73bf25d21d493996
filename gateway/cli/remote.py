"""What the commands that ask a running gateway share: their `--url` and token options, the
admin API's client (its refusals said as one-line errors), and exports streamed to a file with
a progress line."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.admin_client import (
    ADMIN_TOKEN_ENV,
    DEFAULT_URL,
    AdminClient,
    AdminError,
    admin_token,
    url_argument,
)
from gateway.cli.base import CONFIG_DIR_ENV, CommandError, config_dir

PROGRESS_COLUMNS = (
    TextColumn("{task.description}"),
    BarColumn(),
    MofNCompleteColumn(),
    TimeElapsedColumn(),
)
STDERR = Console(stderr=True)


def add_remote(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", type=url_argument, default=DEFAULT_URL, help="the running gateway")
    parser.add_argument(
        "--config-dir",
        metavar="DIR",
        help=f"for a demo-issuer admin token when ${ADMIN_TOKEN_ENV} is unset "
        f"(default: ${CONFIG_DIR_ENV} or .)",
    )


def connect(args: argparse.Namespace) -> AdminClient:
    """The admin API of the gateway at `--url`, with a token from the environment (or the demo
    issuer's); the caller closes it."""
    try:
        token, note = admin_token(os.environ, config_dir(args.config_dir))
        client = AdminClient(args.url, token)
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    if note:
        print(note, file=sys.stderr)
    return client


@contextlib.contextmanager
def admin_client(args: argparse.Namespace) -> Iterator[AdminClient]:
    """`connect`, closed at the end, each refusal of the gateway a CommandError."""
    client = connect(args)
    try:
        yield client
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    finally:
        client.close()


def export(
    args: argparse.Namespace,
    chunks: Callable[[AdminClient], Iterator[bytes]],
    nouns: tuple[str, str],
    header: int = 0,
    count: Callable[[], int] | None = None,
) -> int:
    """Write what the gateway streams to `--out` (or standard output), with a progress line
    while it comes; then say how many lines (`nouns`: one, many) it wrote, `header` aside,
    or as many as `count` says."""
    with admin_client(args) as client:
        # The gateway's answer first, then --out: a refusal, or no gateway at all, leaves the
        # previous export there as it was (opening the file empties it).
        stream = chunks(client)
        first = next(stream, b"")
        try:
            target = open(args.out, "wb") if args.out != "-" else sys.stdout.buffer  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        where = args.out if args.out != "-" else "standard output"
        lines = 0
        try:
            try:
                with Progress(*PROGRESS_COLUMNS, transient=True, console=STDERR) as progress:
                    task = progress.add_task(f"exporting {nouns[1]}", total=None)
                    for chunk in itertools.chain((first,), stream):
                        target.write(chunk)
                        lines += chunk.count(b"\n")
                        progress.update(task, completed=max(0, lines - header))
            finally:
                if target is not sys.stdout.buffer:
                    target.close()  # what is left in the buffer is written here: it may fail too
        except BrokenPipeError:
            raise  # the reader of standard output went away: `main` ends quietly
        except OSError as exc:  # a disk full, a quota exceeded (the network's are AdminError)
            raise CommandError(f"cannot write {where}: {exc.strerror or exc}") from None
    written = count() if count is not None else max(0, lines - header)
    print(
        f"exported {written} {nouns[0] if written == 1 else nouns[1]} to {where}",
        file=sys.stderr,
    )
    return 0
