"""The demo prints its operator's one-time password as soon as it creates the account, even
when its output goes to a pipe (a log file, a process manager), and never again."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _demo_lines(data_dir: Path, until: str, within_s: float = 90) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("PYTHONUNBUFFERED", None)  # as a plain shell or a service manager runs it
    env["KBTC_DATA_DIR"] = str(data_dir)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_demo", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline and not any(until in line for line in lines):
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if ready:
                line = process.stdout.readline()
                if not line:
                    break
                lines.append(line.rstrip("\n"))
        return lines
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_first_start_prints_the_password_while_running_and_later_starts_do_not(tmp_path):
    first = _demo_lines(tmp_path, until="listening on")
    logins = [line for line in first if line.startswith("First run: operator login is")]
    assert len(logins) == 1, first
    assert "'operator' / '" in logins[0]
    assert any(line.startswith("listening on 127.0.0.1:") for line in first)

    second = _demo_lines(tmp_path, until="listening on")
    assert any(line.startswith("listening on") for line in second), second
    assert not any("First run" in line for line in second)
