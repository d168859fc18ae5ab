"""The code version a run records: ``git describe`` where there is a checkout, and always a
hash of the sources that decide and fill (so an uncommitted edit still changes it)."""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Everything a backtest's trades depend on: the market model, the simulator's books, the
# engine, the paper venue, the session driver and this driver.
DECIDING = ("marketdata/model", "marketdata/sim", "trading/engine", "trading/venues", "backtests")
DECIDING_FILES = ("trading/runtime/session.py", "trading/runtime/warmup.py")


@functools.cache
def code_version() -> str:
    digest = hashlib.sha256()
    files = [p for d in DECIDING for p in (ROOT / d).rglob("*.py") if "tests" not in p.parts]
    files += [ROOT / f for f in DECIDING_FILES]
    for path in sorted(files):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return f"{_describe()} src:{digest.hexdigest()[:16]}"


def _describe() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "no-git"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "no-git"
