"""The programs the benchmark runs from Debian's packages (wrk, nginx, taskset): found, or
installed with apt-get when missing and the bench runs as root, saying so.

Not the Python tools (py-spy is a dev dependency in pyproject.toml).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# invoke-rc.d asks this script whether a package may start its service: 101 says no, so that
# installing nginx does not leave Debian's own nginx running on port 80.
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
_NO_SERVICES = "#!/bin/sh\n# Written by the gateway's bench for one apt-get install.\nexit 101\n"
_SBIN = ("/usr/sbin", "/sbin")  # nginx lives there; not on every user's PATH


@dataclass(frozen=True)
class Tool:
    """A program, or None and why it is missing."""

    path: str | None
    note: str
    installed: bool = False  # by this run


_updated = False


def _found(binary: str) -> str | None:
    return shutil.which(binary) or next(
        (str(Path(d) / binary) for d in _SBIN if (Path(d) / binary).is_file()), None
    )


def ensure(binary: str, package: str) -> Tool:
    """`binary`, installing Debian's `package` first when it is missing."""
    path = _found(binary)
    if path is not None:
        return Tool(path, f"{binary}: {path}")
    if os.geteuid() != 0:
        return Tool(None, f"{binary} is not installed; as root: apt-get install {package}")
    if shutil.which("apt-get") is None:
        return Tool(None, f"{binary} is not installed and this system has no apt-get")
    print(f"bench: {binary} is missing: installing Debian's {package} (apt-get)", file=sys.stderr)
    failure = _apt_install(package)
    path = _found(binary)
    if path is None:
        return Tool(None, f"apt-get install {package} failed: {failure}")
    return Tool(path, f"{binary} installed by the bench from Debian's {package}", installed=True)


def _apt_install(package: str) -> str:
    """Install `package`; what went wrong, if anything (the last lines apt-get printed)."""
    global _updated
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _updated:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
        _updated = True
    ours = not POLICY_RC_D.exists()
    if ours:
        POLICY_RC_D.write_text(_NO_SERVICES)
        POLICY_RC_D.chmod(0o755)
    try:
        done = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        if ours:
            POLICY_RC_D.unlink(missing_ok=True)
    return "" if done.returncode == 0 else (done.stdout + done.stderr).strip()[-500:]
