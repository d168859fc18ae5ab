"""``manage.py demo_disk --days 4``: the demo's trader for N simulated days as fast as asked,
with the demo's retention, then the disk it used: the SQLite database and the event archive.

The daemon is the demo's (paper lane, recorder, batched writer, the embedded profile's
SQLite) fed by the in-process simulator stream (``--sim-stream``: no sockets) at
``--speed`` simulated seconds per wall second; the retention pass the demo runs every wall
minute runs here every simulated hour. Run it on a fresh data directory:
``KBTC_DATA_DIR=$(mktemp -d) python manage.py demo_disk --days 4``. The last line is one
JSON object with the figures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Sum

from kbtc_site.retention import RetentionReport, retention_enforce
from marketdata.archive.store import day_files
from marketdata.management.commands.archive_events import default_root
from marketdata.management.commands.backfill_klines import parse_utc
from marketdata.model.events import EventSink
from marketdata.models import RecordedEvent, RecordingSession
from marketdata.recorder import Recorder
from marketdata.recorder.rows import ms_to_utc, utc_to_ms
from marketdata.sim.core import SimCore
from marketdata.sim.prices import history_candles
from marketdata.sim.stream import history_for
from trading.runtime.daemon import DaemonConfig
from trading.runtime.embedded import default_start
from trading.runtime.factory import build_daemon

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MAX_BACKLOG = 5_000  # events and writes waiting: the stream pauses above it


def paced_feed(
    core: SimCore, speed: float, backlog: Callable[[], int]
) -> Callable[[EventSink, asyncio.Event], Coroutine[Any, Any, None]]:
    """The simulator stream at up to ``speed``, waiting whenever the recorder and the writer
    fall behind: a measurement of the disk needs every event stored, not dropped."""

    async def run(sink: EventSink, stop: asyncio.Event) -> None:
        for event in core.initial_events():
            sink(event)
        began, simulated = time.monotonic(), 0
        while not stop.is_set() and core.second * 1000 < core.end_ts():
            for event in core.step():
                sink(event)
            simulated += 1
            await asyncio.sleep(max(simulated / speed - (time.monotonic() - began), 0.0))
            while backlog() > MAX_BACKLOG and not stop.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    return run


def _retention_pass(now_ms: int) -> RetentionReport:
    try:
        return retention_enforce(now=ms_to_utc(now_ms))
    finally:
        connection.close()  # the worker thread's own connection


def _bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _database_figures() -> dict[str, Any]:
    name = Path(settings.DATABASES["default"]["NAME"])
    totals = RecordingSession.objects.aggregate(recorded=Sum("recorded"), dropped=Sum("dropped"))
    return {
        "recorded_events": int(totals["recorded"] or 0),
        "db_bytes": sum(_bytes(Path(f"{name}{suffix}")) for suffix in ("", "-wal", "-shm")),
        "db_events": RecordedEvent.objects.count(),
        "recorder_dropped": int(totals["dropped"] or 0),
    }


class Command(BaseCommand):
    help = "Run the demo's trader for --days simulated days with retention; report disk use."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=float, default=4.0)
        parser.add_argument("--speed", type=float, default=600.0, help="simulated s per wall s")
        parser.add_argument(
            "--start", type=parse_utc, default=None, help="UTC (default: the demo's start)"
        )
        parser.add_argument(
            "--retain-events-days",
            type=float,
            default=None,
            help="this run's event retention (default: KBTC_RETAIN_EVENTS_DAYS); under 0.5 the"
            " restart replay (12 h) would miss events: for short test runs only",
        )

    def handle(
        self,
        *args: Any,
        days: float,
        speed: float,
        start: dt.datetime | None,
        retain_events_days: float | None,
        **options: Any,
    ) -> None:
        if not settings.EMBEDDED:
            raise CommandError("demo_disk measures the embedded demo: unset DATABASE_URL")
        if days <= 0 or speed <= 0:
            raise CommandError("--days and --speed must be positive")
        if retain_events_days is not None:
            if retain_events_days <= 0:
                raise CommandError("--retain-events-days must be positive")
            settings.KBTC = {**settings.KBTC, "RETAIN_EVENTS_DAYS": retain_events_days}
        call_command("migrate", interactive=False, verbosity=0)
        began = time.monotonic()
        start_ms = default_start(settings.KBTC["HISTORY"]) if start is None else utc_to_ms(start)
        passes = asyncio.run(self._run(start_ms, days, speed))
        figures = {
            "start": start_ms,
            "simulated_days": days,
            "speed": speed,
            "wall_s": round(time.monotonic() - began, 1),
            "retention_passes": passes,
            "retain_events_days": settings.KBTC["RETAIN_EVENTS_DAYS"],
            **_database_figures(),
        }
        archive = default_root()
        files = day_files(archive, "journal")
        figures |= {
            "archive_bytes": _bytes(archive),
            "archive_days": len(files),
            "archive_events": sum(f.events for f in files),
            "history": str(
                settings.KBTC["HISTORY"] or f"synthetic seed {settings.KBTC['SIM_SEED']}"
            ),
        }
        self.stdout.write(json.dumps(figures, sort_keys=True))

    async def _run(self, start: int, days: float, speed: float) -> int:
        kbtc = settings.KBTC
        history_path = kbtc["HISTORY"]
        end = start + int(days * DAY_MS)
        history = history_for(
            kbtc["SIM_SEED"],
            start,
            int(days * 1440) + 60,
            str(history_path) if history_path else None,
        )
        core = SimCore(seed=kbtc["SIM_SEED"], start_ts=start, history=history)
        recorder = Recorder(label="demo_disk")
        daemon = build_daemon(
            DaemonConfig(),
            feeds=[paced_feed(core, speed, lambda: recorder.buffered + daemon.writer.pending)],
            candles=lambda before: history_candles(history, before, count=60),
            recorder=recorder,
            start_ts=start,
        )
        await daemon.prepare()
        stop = asyncio.Event()
        running = asyncio.create_task(daemon.run(stop))
        passes, next_pass = 0, start + HOUR_MS
        while not running.done():
            await asyncio.sleep(0.5)
            now = daemon.session.now if daemon.session else start
            if now >= end or core.second * 1000 >= core.end_ts():
                break
            if now >= next_pass:
                await asyncio.to_thread(_retention_pass, now)
                passes, next_pass = passes + 1, now + HOUR_MS
        stop.set()
        await running
        now = daemon.session.now if daemon.session else start
        await asyncio.to_thread(_retention_pass, now)
        return passes + 1
