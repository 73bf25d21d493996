"""`gateway events dead-letters`: the webhook deliveries of a running gateway past their last
retry (all, or one subscription's), listed; with `--replay`, due again. `gateway events
subscriptions`: its webhook subscriptions, enabled or disabled (a 410 Gone); with `--enable`,
enabled again."""

from __future__ import annotations

import argparse
import sys

from gateway.cli.arguments import at_least, verb, verbs
from gateway.cli.remote import add_remote, admin_client


def arguments(parser: argparse.ArgumentParser) -> None:
    events = verbs(parser, "events", "dead-letters|subscriptions")
    dead_letters = verb(
        events,
        "dead-letters",
        "list the deliveries past their last retry; --replay sends them again",
        run_dead_letters,
    )
    dead_letters.add_argument(
        "--limit", type=at_least(1), default=100, help="the most to list (page after page)"
    )
    dead_letters.add_argument(
        "--subscription",
        metavar="ID",
        help="only this subscription's (listed, or with --replay and no ids, replayed)",
    )
    dead_letters.add_argument(
        "--replay",
        nargs="*",
        metavar="ID",
        help="replay these dead letters (no ids: every one, or every one of --subscription, "
        "whatever --limit)",
    )
    add_remote(dead_letters)
    dead_letters.set_defaults(parser=dead_letters)  # to refuse --subscription with --replay IDs
    subscriptions = verb(
        events,
        "subscriptions",
        "list the webhook subscriptions, enabled or disabled (410 Gone); --enable sends again",
        run_subscriptions,
    )
    subscriptions.add_argument(
        "--enable",
        nargs="+",
        metavar="ID",
        help="enable these subscriptions again (then replay their dead letters)",
    )
    add_remote(subscriptions)


def run_dead_letters(args: argparse.Namespace) -> int:
    """List the webhook dead letters (all, or --subscription's), or with --replay, replay them
    (the ids given, or every one listed: all pages, listed first, so that one dead again
    meanwhile is not replayed twice)."""
    if args.subscription is not None and args.replay:
        args.parser.error(
            "--subscription with --replay replays its every dead letter: give no ids, "
            "or leave out --subscription"
        )
    with admin_client(args) as client:
        if args.replay is None:
            listed = 0
            for d in client.dead_letters(args.limit, args.subscription):
                event = d["event"]
                print(
                    f"{d['id']}  {event.get('type')}  {event.get('subject')}  "
                    f"attempts={d['attempts']}  {d['last_error']}"
                )
                listed += 1
            print(f"{listed} dead letter(s)", file=sys.stderr)
            return 0
        chosen = args.replay or [d["id"] for d in client.dead_letters(None, args.subscription)]
        for delivery in chosen:
            client.replay_dead_letter(delivery)
            print(f"{delivery}: due again")
    return 0


def run_subscriptions(args: argparse.Namespace) -> int:
    """List the webhook subscriptions and their state, or with --enable, enable those given."""
    with admin_client(args) as client:
        if args.enable is None:
            for s in client.subscriptions():
                disabled = s.get("disabled")
                if isinstance(disabled, dict):  # at the URL it has now
                    state = (
                        f"disabled since {disabled.get('at')}  HTTP {disabled.get('status')} "
                        f"from {disabled.get('url')}"
                    )
                else:
                    state = f"enabled  {s.get('url')}"
                print(f"{s.get('id')}  {state}  {s.get('dead_letters')} dead letters")
            return 0
        for subscription in args.enable:
            client.enable_subscription(subscription)
            print(
                f"{subscription}: enabled (replay its dead letters: "
                f"gateway events dead-letters --subscription {subscription} --replay)"
            )
    return 0
