"""`gateway shadow report`: a running gateway's shadow evidence per legal entity and operation
(samples, match rate, the fields that differ, noise), as text or JSON."""

from __future__ import annotations

import argparse
import json

from gateway.cli.arguments import verb, verbs
from gateway.cli.remote import add_remote, admin_client
from gateway.routing.shadow_report import report_text


def arguments(parser: argparse.ArgumentParser) -> None:
    shadow = verbs(parser, "shadow", "report")
    report = verb(
        shadow,
        "report",
        "per legal entity and operation: samples, match rate, the fields that differ, "
        "noise (a running gateway)",
        run_report,
    )
    report.add_argument("--json", action="store_true", help="the report as JSON")
    add_remote(report)


def run_report(args: argparse.Namespace) -> int:
    with admin_client(args) as client:
        report = client.shadow_report()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(report_text(report["scopes"]))
    return 0
