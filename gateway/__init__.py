"""ERP coexistence gateway: one stable domain API over a legacy and a cloud ERP.

The package is organised by concept; `gateway.app.build_app` is where the pieces meet.
"""

__version__ = "0.1.0"

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Where each of several workers writes its metrics (prometheus_client's multiprocess mode)."""


def _metrics_directory_checked() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR when it names no directory, taken out of the environment before
    prometheus_client is first imported (which would fail as the first metric is made, with a
    traceback, for every command): `gateway` then says so in one line."""
    import os

    given = os.environ.get(MULTIPROC_DIR_ENV)
    if given and not os.path.isdir(given):
        del os.environ[MULTIPROC_DIR_ENV]
        return given
    return None


MISSING_MULTIPROC_DIR = _metrics_directory_checked()
