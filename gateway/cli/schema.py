"""`gateway schema`: the config files' JSON Schemas, written for editors and their YAML
support."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.cli.base import CommandError
from gateway.config.schemas import schema_documents


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default="schemas", metavar="DIR", help="the directory to write them to"
    )
    parser.set_defaults(func=schema)


def schema(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in schema_documents().items():
            path = out / name
            # "\n" on every platform: the committed files are compared byte for byte.
            path.write_text(text, encoding="utf-8", newline="\n")
            print(f"wrote {path}")
    except OSError as exc:
        raise CommandError(f"cannot write the schemas to {out}: {exc.strerror or exc}") from None
    return 0
