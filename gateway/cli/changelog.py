"""`gateway changelog`: the API changelog, generated from the version changes."""

from __future__ import annotations

import argparse

from gateway.domain.versions import changelog as api_changelog


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=changelog)


def changelog(_: argparse.Namespace) -> int:
    print(api_changelog())
    return 0
