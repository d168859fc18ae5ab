"""``manage.py archive_events --start --end``: the recorded journal into daily archive files."""

from __future__ import annotations

import datetime as dt
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from marketdata.archive.store import ArchiveError, day_start_ms, write_journal
from marketdata.model.events import EventFormatError
from marketdata.recorder.reader import iter_keyed_events

# How far before the first day the journal is read, so "now" at the day's first events is
# what a whole-journal pass has (feeds interleave by far less than this).
LEAD_MS = 5 * 60_000


def parse_day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


def default_root() -> Path:
    return Path(settings.KBTC["DATA_DIR"]) / "archive"


class Command(BaseCommand):
    help = (
        "Archive the recorded journal's UTC days [--start, --end) into daily Parquet files "
        "(<dir>/<stream>/YYYY/YYYY-MM-DD.parquet). Whole days only; re-running replaces them."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--start", required=True, type=parse_day, help="first UTC day")
        parser.add_argument("--end", required=True, type=parse_day, help="UTC day, exclusive")
        parser.add_argument("--dir", type=Path, default=None, help="default: KBTC_DATA_DIR/archive")
        parser.add_argument("--stream", default="journal")

    def handle(self, *args: Any, **options: Any) -> None:
        first, end = options["start"], options["end"]
        if end <= first:
            raise CommandError("--end must be after --start")
        root = options["dir"] or default_root()
        start_ms, end_ms = day_start_ms(first), day_start_ms(end)
        try:
            written = write_journal(
                root,
                options["stream"],
                iter_keyed_events(start_ms - LEAD_MS, end_ms + LEAD_MS),
                days=(first, end - dt.timedelta(days=1)),
            )
        except (ArchiveError, EventFormatError) as exc:
            raise CommandError(str(exc)) from exc
        if not written:
            raise CommandError(f"the journal has no events from {first} to {end} (exclusive)")
        for day_file in written:
            self.stdout.write(f"{day_file.day}: {day_file.events} events → {day_file.path}")
