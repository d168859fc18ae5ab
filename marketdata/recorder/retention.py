"""Journal retention: archive a whole UTC day of recorded events, verify the file, then delete
exactly the rows that file holds.

Nothing is deleted that is not in a day file that was read back: the rows deleted are the
journal keys ``(session, seq)`` read for the day, and each of them must be in the written
file. A day file that already exists (an earlier ``archive_events``, or a run stopped
between writing and deleting) is merged with what the journal still holds, never replaced
by less. A day's file holds the events whose stream "now" fell in that day (the archive's
rule), so a late event just after midnight waits for the next day's file.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from django.db import transaction
from django.db.models import Min

from marketdata.archive.columns import SEQ, SESSION, table_to_events
from marketdata.archive.store import (
    DAY_MS,
    ArchiveError,
    day_of,
    day_path,
    day_start_ms,
    write_day,
    write_journal,
)
from marketdata.model.events import Event
from marketdata.models import OrderBookSnapshot, RecordedEvent
from marketdata.recorder.reader import iter_keyed_events
from marketdata.recorder.rows import ms_to_utc, utc_to_ms

STREAM = "journal"
# As ``archive_events``: the journal is read from a little before the day, so the stream's
# "now" at the day's first events is what a whole-journal pass has.
LEAD_MS = 5 * 60_000
DELETE_CHUNK = 20_000  # rows per DELETE: short transactions, so the trader's writes go on

Key = tuple[int, int]


@dataclass(frozen=True)
class ArchivedDay:
    day: dt.date
    path: Path
    archived: int  # events in the day's file
    deleted: int  # journal rows deleted (all of them in the file)


def _file_keys(path: Path) -> list[Key]:
    try:
        table = pq.read_table(path, columns=[SESSION, SEQ])
    except Exception as exc:
        raise ArchiveError(f"cannot read back {path}: {exc}") from exc
    sessions, seqs = table.column(SESSION).to_pylist(), table.column(SEQ).to_pylist()
    if None in sessions or None in seqs:
        raise ArchiveError(f"{path} has rows without journal keys: not a journal day file")
    return list(zip(sessions, seqs, strict=True))


def _file_events(path: Path) -> list[tuple[Key, Event]]:
    try:
        events = table_to_events(pq.read_table(path))
    except Exception as exc:
        raise ArchiveError(f"cannot read {path}: {exc}") from exc
    return list(zip(_file_keys(path), events, strict=True))


def _write_day_file(root: Path, day: dt.date) -> list[Key]:
    """Write (or merge into) the day's file; returns the keys of the journal rows read for
    it, every one of which the file now holds."""
    start = day_start_ms(day)
    target = day_path(root, STREAM, day)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The scratch folder sits in the archive's file system (the file is moved, not copied);
    # its dot name is no stream name, so readers never look inside.
    with tempfile.TemporaryDirectory(prefix=".retention-", dir=root) as scratch:
        fresh = write_journal(
            Path(scratch),
            STREAM,
            iter_keyed_events(start - LEAD_MS, start + DAY_MS + LEAD_MS),
            days=(day, day),
        )
        if not fresh:
            return []
        keys = _file_keys(fresh[0].path)
        if not target.exists():
            os.replace(fresh[0].path, target)
        else:
            merged = dict(_file_events(target))
            if not set(keys) <= merged.keys():
                merged.update(_file_events(fresh[0].path))
                ordered = sorted(merged.items())  # journal order: (session, seq)
                write_day(root, STREAM, day, [e for _, e in ordered], [k for k, _ in ordered])
    missing = set(keys) - set(_file_keys(target))
    if missing:
        raise ArchiveError(f"{target} lacks {len(missing)} of the day's rows: nothing deleted")
    return keys


def _runs(keys: list[Key]) -> Iterator[tuple[int, int, int]]:
    """``(session, first seq, last seq)`` runs of consecutive keys, at most DELETE_CHUNK long."""
    run: list[int] = []  # [session, first, last]
    for session, seq in sorted(keys):
        if run and run[0] == session and seq == run[2] + 1 and seq - run[1] < DELETE_CHUNK:
            run[2] = seq
            continue
        if run:
            yield run[0], run[1], run[2]
        run = [session, seq, seq]
    if run:
        yield run[0], run[1], run[2]


def _delete(keys: list[Key]) -> int:
    deleted = 0
    for session, first, last in _runs(keys):
        with transaction.atomic():
            count, _ = RecordedEvent.objects.filter(
                session_id=session, seq__gte=first, seq__lte=last
            ).delete()
        deleted += count
    return deleted


def journal_archive_before(before: dt.date, root: Path) -> list[ArchivedDay]:
    """Archive then delete the journal's days older than ``before`` (UTC), oldest first."""
    done: list[ArchivedDay] = []
    cursor: dt.date | None = None
    older = RecordedEvent.objects.filter(ts__lt=ms_to_utc(day_start_ms(before)))
    while True:
        oldest = older.aggregate(ts=Min("ts"))["ts"]
        if oldest is None:
            return done
        day = day_of(utc_to_ms(oldest))
        if cursor is not None and day <= cursor:
            # Late events that belong to a later day's file (see the module doc).
            day = cursor + dt.timedelta(days=1)
        if day >= before:
            return done
        keys = _write_day_file(root, day)
        if keys:
            path = day_path(root, STREAM, day)
            archived = pq.ParquetFile(path).metadata.num_rows
            done.append(ArchivedDay(day, path, archived, _delete(keys)))
        cursor = day


def book_snapshots_delete_before(before: dt.datetime) -> int:
    """Book snapshots older than ``before`` (derived from the journal: not archived)."""
    old_ids = OrderBookSnapshot.objects.filter(ts__lt=before).values_list("id", flat=True)
    deleted = 0
    while ids := list(old_ids[:DELETE_CHUNK]):
        count, _ = OrderBookSnapshot.objects.filter(id__in=ids).delete()
        deleted += count
    return deleted
