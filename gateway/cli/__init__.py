"""The `gateway` command (its commands are `gateway.cli.commands.COMMANDS`).

Not the application itself (see `gateway.app`); this parses arguments and starts things. Every
foreseeable mistake (a busy port, a missing variable, a bad argument, a broken config) ends in
one or two lines that say what to do, and a non-zero exit; never a traceback.

One module per command, its arguments beside what it does; `main` imports only the command
asked for, so that `gateway token` or `gateway --help` does not load the server.
"""

from gateway.cli.commands import main

__all__ = ["main"]
