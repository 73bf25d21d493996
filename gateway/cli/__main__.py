"""`python -m gateway.cli`: the `gateway` command."""

import sys

from gateway.cli import main

sys.exit(main())
