"""`gateway check`: every issue of routes, backends and policies, with file and line; exit 1
on errors."""

from __future__ import annotations

import argparse

from gateway import configuration
from gateway.cli.arguments import add_config_dir
from gateway.cli.base import config_dir


def arguments(parser: argparse.ArgumentParser) -> None:
    add_config_dir(parser)
    parser.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    issues = configuration.check(config_dir(args.config_dir))
    for issue in issues:
        print(f"{issue.severity}: {issue}")
    errors = [i for i in issues if i.severity == "error"]
    print(f"{len(errors)} error(s), {len(issues) - len(errors)} warning(s)")
    return 1 if errors else 0
