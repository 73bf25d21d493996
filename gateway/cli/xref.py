"""`gateway xref export|import`: the ID cross-reference of a running gateway as CSV, out
(every ERP document of the records) and in (mappings bound after every row was validated)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.progress import Progress

from gateway.cli.arguments import verb, verbs
from gateway.cli.base import CommandError, text_lines
from gateway.cli.remote import PROGRESS_COLUMNS, STDERR, add_remote, admin_client, export
from gateway.ops.xref_exchange import IMPORT_COLUMNS

IMPORT_CHUNK_ROWS = 2000


def arguments(parser: argparse.ArgumentParser) -> None:
    xref = verbs(parser, "xref", "export|import")
    out = verb(xref, "export", "every ERP document of the records, as CSV", export_rows)
    out.add_argument("--legal-entity", help="only this legal entity's records (default: all)")
    out.add_argument("--out", default="-", help="the file to write (- for standard output)")
    add_remote(out)
    into = verb(
        xref,
        "import",
        "bind mappings (gateway id or source ERP id -> target ERP id) from a CSV file",
        import_rows,
    )
    into.add_argument("file", help="the CSV (- for standard input): " + ",".join(IMPORT_COLUMNS))
    into.add_argument("--dry-run", action="store_true", help="validate every row; bind nothing")
    add_remote(into)


def export_rows(args: argparse.Namespace) -> int:
    rows = ("row", "rows")
    return export(args, lambda client: client.export_xref(args.legal_entity), rows, header=1)


def import_rows(args: argparse.Namespace) -> int:
    lines = text_lines(args.file, encoding="utf-8-sig")  # a BOM, as spreadsheets write it
    if not lines:
        raise CommandError(f"{args.file} is empty; the first line names the columns")
    header, rows = lines[0], lines[1:]
    errors: list[dict[str, Any]] = []
    totals = {"valid": 0, "bound": 0}
    with admin_client(args) as client:
        try:
            # Every row is validated first, then (unless a dry run) the good ones are bound.
            passes = [True] if args.dry_run else [True, False]
            with Progress(*PROGRESS_COLUMNS, console=STDERR) as progress:
                for dry_run in passes:
                    label = "validating" if dry_run else "binding"
                    task = progress.add_task(f"{label} {args.file}", total=len(rows))
                    for start in range(0, len(rows), IMPORT_CHUNK_ROWS):
                        chunk = rows[start : start + IMPORT_CHUNK_ROWS]
                        text = "\n".join([header, *chunk]) + "\n"
                        report = client.import_xref(text, dry_run=dry_run, first_line=start + 1)
                        # The binding refuses rows too: what only shows across chunks (a
                        # document bound by a row in another chunk), or what changed since the
                        # validation.
                        seen = {e["line"] for e in errors}
                        errors += [e for e in report.get("errors", ()) if e["line"] not in seen]
                        if dry_run:
                            totals["valid"] += report["valid"]
                        else:
                            totals["bound"] += report["bound"]
                        progress.advance(task, len(chunk))
        except (KeyError, TypeError):
            raise CommandError("an import report it cannot read") from None
    for error in sorted(errors, key=lambda e: e["line"]):
        print(f"{args.file}:{error['line']}: {error['message']}", file=sys.stderr)
    counted = sum(1 for row in rows if row.strip())  # blank lines are no rows
    print(
        f"{counted} row(s): {totals['valid']} valid, {len(errors)} refused; "
        + ("nothing bound (dry run)" if args.dry_run else f"{totals['bound']} bound")
    )
    return 1 if errors else 0
