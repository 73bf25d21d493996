"""What the simulators' command-line options share: the type of a count that must be positive,
refused when parsed (exit 2, the command's name first) rather than once the simulator is built."""

from __future__ import annotations

import argparse


def positive(value: str) -> int:
    """A whole number of at least 1 (a page of 0 entities, a limit of 0 requests, serves none)."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)
