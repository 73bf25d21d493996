"""`gateway audit export|verify`: a running gateway's hash-chained audit trail as JSON lines,
and the check of such a file, naming the first edited, removed, inserted or reordered line."""

from __future__ import annotations

import argparse
import sys

from gateway.cli.arguments import verb, verbs
from gateway.cli.base import CommandError, text_lines
from gateway.cli.remote import add_remote, export
from gateway.store.audit import ExportEnds, verify_file


def arguments(parser: argparse.ArgumentParser) -> None:
    audit = verbs(parser, "audit", "export|verify")
    out = verb(
        audit, "export", "the whole trail from a running gateway, as JSON lines", export_trail
    )
    out.add_argument("--out", default="-", help="the file to write (- for standard output)")
    add_remote(out)
    check = verb(
        audit,
        "verify",
        "check an exported trail; exit 1 naming the first edited, removed, inserted or "
        "reordered line",
        verify,
    )
    check.add_argument(
        "--file", required=True, help="the exported JSON lines (- for standard input)"
    )
    check.add_argument(
        "--expect-head",
        metavar="HASH",
        help="the head the chain must end at, as kept elsewhere (GET /admin/audit/verify's "
        "`head` when the file was made): exit 1 if it ends anywhere else (the export's end "
        "record already holds the store's head when it began; this catches a store whose "
        "head was set back too)",
    )


def export_trail(args: argparse.Namespace) -> int:
    """The trail between a start and an end record (`ExportEnds`): the end is written only
    once the whole trail came, so that a file cut short is found by `audit verify`; it says
    the store's head the gateway read first, which the chain must reach."""
    ends = ExportEnds()
    return export(
        args,
        lambda client: ends.wrap(client.export_audit(ends.began)),
        ("audit entry", "audit entries"),
        count=lambda: ends.entries,
    )


def verify(args: argparse.Namespace) -> int:
    lines = text_lines(args.file)
    verdict = verify_file(lines)
    if not verdict.intact:
        print(f"{args.file}:{verdict.bad_line}: {verdict.reason}", file=sys.stderr)
        print(f"{verdict.entries} entr{'y' if verdict.entries == 1 else 'ies'} before it verified")
        return 1
    if verdict.entries == 0:
        raise CommandError(f"{args.file} holds no audit entries")
    first = verdict.first_seq or 1
    last = first + verdict.entries + verdict.trimmed - 1
    if args.expect_head is not None and verdict.head != args.expect_head.strip().lower():
        print(
            f"{args.file}: the chain ends at seq {last} with head {verdict.head}, not the "
            f"expected {args.expect_head}: entries after it are missing, or the file is another "
            "chain's",
            file=sys.stderr,
        )
        return 1
    start = "from the first entry" if first == 1 else f"anchored at entry {first}"
    print(
        f"audit trail intact: {verdict.entries} entries (seq {first} to {last}, {start}); "
        f"head {verdict.head}"
    )
    if not verdict.ends_checked:
        print(
            "warning: the file has no export start and end records (an older gateway's "
            "export, or lines from GET /admin/audit): entries cut from its ends cannot be "
            "told; compare its head with one kept elsewhere (--expect-head)",
            file=sys.stderr,
        )
    if verdict.trimmed:
        print(
            f"warning: {verdict.trimmed} entries were trimmed from the store while it was "
            "exported and are not in the file (verified up to that gap and from it on)",
            file=sys.stderr,
        )
    return 0
