"""`gateway events dead-letters`: the webhook deliveries of a running gateway past their last
retry, listed; with `--replay`, due again."""

from __future__ import annotations

import argparse
import sys

from gateway.cli.arguments import verb, verbs
from gateway.cli.remote import add_remote, admin_client


def arguments(parser: argparse.ArgumentParser) -> None:
    events = verbs(parser, "events", "dead-letters")
    dead_letters = verb(
        events,
        "dead-letters",
        "list the deliveries past their last retry; --replay sends them again",
        run_dead_letters,
    )
    dead_letters.add_argument(
        "--limit", type=int, default=100, help="the most to list (page after page)"
    )
    dead_letters.add_argument(
        "--replay",
        nargs="*",
        metavar="ID",
        help="replay these dead letters (no ids: every one, whatever --limit)",
    )
    add_remote(dead_letters)


def run_dead_letters(args: argparse.Namespace) -> int:
    """List the webhook dead letters, or with --replay, replay them (the ids given, or every
    one: all pages, listed first, so that one dead again meanwhile is not replayed twice)."""
    with admin_client(args) as client:
        if args.replay is None:
            listed = 0
            for d in client.dead_letters(args.limit):
                event = d["event"]
                print(
                    f"{d['id']}  {event.get('type')}  {event.get('subject')}  "
                    f"attempts={d['attempts']}  {d['last_error']}"
                )
                listed += 1
            print(f"{listed} dead letter(s)", file=sys.stderr)
            return 0
        chosen = args.replay or [d["id"] for d in client.dead_letters()]
        for delivery in chosen:
            client.replay_dead_letter(delivery)
            print(f"{delivery}: due again")
    return 0
