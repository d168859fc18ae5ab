"""``manage.py run_trader`` as a real process, for the tests that signal it or take its
database away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trading.chaos.process import ROOT, database_url


def current_database_url() -> str:
    return database_url()


def start_run_trader(
    data_dir: Path,
    *,
    database_url: str | None = None,
    log: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """The trader on the in-process simulator stream at 600×, on the test database unless
    ``database_url`` says otherwise, writing its output to ``log`` (else a pipe)."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("KBTC_")}
    child_env.pop("REDIS_URL", None)  # the in-memory layer: this process publishes to nobody
    child_env.update(
        DATABASE_URL=database_url or current_database_url(),
        KBTC_DATA_DIR=str(data_dir),
        KBTC_HEARTBEAT_STALE_S="60",
        **(env or {}),
    )
    # A file, not a pipe, where the test reads while the process runs: a full pipe would
    # block the trader's loop on a log line.
    output = subprocess.PIPE if log is None else log.open("w")
    try:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_trader", "--sim-stream", "--speed", "600"],
            cwd=ROOT,
            env=child_env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        if log is not None:
            output.close()  # type: ignore[union-attr]  # the child holds its own copy
