"""`gateway migrate`: a running gateway copies a legal entity's customers to another ERP, with
a progress bar while its job runs; exit 1 unless the job succeeded."""

from __future__ import annotations

import argparse
import sys
import time

from rich.progress import Progress

from gateway.cli.remote import PROGRESS_COLUMNS, add_remote, admin_client


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--legal-entity", required=True, help="e.g. CA01")
    parser.add_argument("--to", required=True, help="the target backend, e.g. cloud")
    parser.add_argument(
        "--records", action="append", choices=["customers"], default=None,
        help="what to copy (default: customers)",
    )  # fmt: skip
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would move; copy nothing"
    )
    add_remote(parser)
    parser.set_defaults(func=migrate)


def migrate(args: argparse.Namespace) -> int:
    body = {
        "legal_entity": args.legal_entity,
        "to": args.to,
        "records": args.records or ["customers"],
        "dry_run": args.dry_run,
    }
    with admin_client(args) as client:
        job = client.start_migration(body)
        what = "counting (dry run)" if args.dry_run else "copying"
        with Progress(*PROGRESS_COLUMNS, transient=False) as progress:
            task = progress.add_task(f"{args.legal_entity} -> {args.to}: {what}", total=None)
            while True:
                progress.update(
                    task, total=job["total"] or None, completed=job["done"] + job["failed"]
                )
                if job["status"] != "running":
                    break
                time.sleep(0.2)
                job = client.migration(job["id"])
    for error in job["errors"]:
        print(f"  {error['record'] or 'job'}: {error['message']}", file=sys.stderr)
    verb = "would copy" if args.dry_run else "copied"
    print(
        f"migration {job['id']} {job['status']}: {job['done']} of {job['total']} done "
        f"({verb} {job['copied']}), {job['failed']} failed"
    )
    return 0 if job["status"] == "succeeded" else 1
