"""The demo caps its own disk: ``demo_disk`` (the demo's trader on the simulator stream, with
the demo's retention) across a UTC midnight with a tiny retention window, as a process on
the embedded profile (SQLite), then the archive it left is read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from marketdata.archive.store import day_files, read_events

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_archives_then_deletes_what_is_past_its_retention(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KBTC_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env["KBTC_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "demo_disk", "--start", "2026-01-01T21:00",
         "--days", "0.25", "--speed", "100000", "--retain-events-days", "0.1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["recorder_dropped"] == 0
    # Jan 1 (21:00-24:00) went to the archive; the database kept Jan 2's events only.
    files = day_files(tmp_path / "archive", "journal")
    assert [str(f.day) for f in files] == ["2026-01-01"]
    assert figures["archive_events"] == files[0].events > 0
    assert figures["db_events"] + figures["archive_events"] == figures["recorded_events"]
    archived = list(read_events(tmp_path / "archive", "journal"))
    assert len(archived) == figures["archive_events"]
    assert archived[0].ts >= 1_767_301_200_000  # 2026-01-01T21:00Z: nothing older
