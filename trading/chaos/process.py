"""The trader as a process the harness can kill: ``run_trader --live`` with its output in a
log file, and the database URL it is given."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url(host: str | None = None, port: int | None = None) -> str:
    """The database this process uses, as a URL (optionally through another host/port)."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{host or db['HOST']}:{port or db['PORT']}/{db['NAME']}"


class Trader:
    """One ``run_trader --live`` process, its output appended to ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("a") as output:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "run_trader", "--live", "--refresh-s", "0.5"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
            )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    async def kill(self) -> None:
        self.proc.kill()
        await asyncio.to_thread(self.proc.wait)

    async def stop(self) -> None:
        self.proc.terminate()
        try:
            await asyncio.to_thread(self.proc.wait, 120)
        except subprocess.TimeoutExpired:
            await self.kill()

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
