"""Build the image's wheelhouse: `python deploy/wheelhouse.py [--python-version 3.11.2] ...`.

The project's own wheel (every package of the distribution, whatever its layout), plus each of
its runtime dependencies at the version `constraints.txt` locks, as binary wheels for the
image's interpreter (CPython, its version, glibc and architecture), whichever Python runs this.
The Dockerfile installs from it with `pip install --no-index`, so a missing wheel fails the build.

async-timeout is always added: redis needs it on Python < 3.11.3 (Debian bookworm's 3.11.2),
and `pip download` evaluates such markers for the Python running it, not for the target.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Dependencies that a marker adds on the target's Python but maybe not on the one running this.
MARKER_DEPENDENCIES = ("async-timeout",)
OLDEST_MANYLINUX_GLIBC = 5  # manylinux_2_5 is manylinux1
# The same sources give the same wheel, byte for byte, so an image build can reuse its cache.
REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01, the oldest date a zip file can hold


def manylinux_platforms(glibc: str, arch: str) -> list[str]:
    """Every manylinux tag a glibc `major.minor` runs, newest first (pip doesn't expand them)."""
    major, minor = (int(part) for part in glibc.split(".")[:2])
    if major != 2:
        raise SystemExit(f"wheelhouse: unexpected glibc version {glibc}")
    tags = [f"manylinux_2_{m}_{arch}" for m in range(minor, OLDEST_MANYLINUX_GLIBC - 1, -1)]
    return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]


def pip(*args: str) -> None:
    """Run pip quietly; on failure show everything it said, and stop."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args],
        cwd=ROOT,
        env={**os.environ, "SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"wheelhouse: pip {args[0]} failed (exit {result.returncode})")


def build(out: Path, python_version: str, glibc: str, arch: str, constraints: Path) -> list[Path]:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    # setuptools builds in the source tree and packs whatever is left in build/lib: a module
    # moved or deleted since the last build would come back. Start clean.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    pip("wheel", "--no-deps", "--wheel-dir", str(out), str(ROOT))
    (project,) = out.glob("*.whl")
    major, minor = python_version.split(".")[:2]
    platforms = [arg for tag in manylinux_platforms(glibc, arch) for arg in ("--platform", tag)]
    pip(
        "download",
        "--only-binary=:all:",
        "--implementation=cp",
        f"--python-version={python_version}",
        f"--abi=cp{major}{minor}",
        *platforms,
        f"--constraint={constraints}",
        f"--dest={out}",
        str(project),
        *MARKER_DEPENDENCIES,
    )
    return sorted(out.glob("*.whl"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "wheelhouse")
    parser.add_argument(
        "--python-version", default="3.11", help="the image's CPython, e.g. 3.11 or 3.11.2"
    )
    parser.add_argument("--glibc", default="2.36", help="the image's glibc (bookworm: 2.36)")
    parser.add_argument("--arch", default=platform.machine(), help="default: this machine's")
    parser.add_argument("--constraints", type=Path, default=ROOT / "constraints.txt")
    args = parser.parse_args()
    started = time.monotonic()
    out, constraints = args.out.resolve(), args.constraints.resolve()
    wheels = build(out, args.python_version, args.glibc, args.arch, constraints)
    size_mb = sum(w.stat().st_size for w in wheels) / 1e6
    print(
        f"wheelhouse: {len(wheels)} wheels ({size_mb:.0f} MB) for CPython {args.python_version}, "
        f"glibc {args.glibc}, {args.arch} in {out} ({time.monotonic() - started:.0f} s)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
