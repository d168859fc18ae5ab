"""Data retention: how long the fast-growing tables keep their rows, enforced by a beat job
(and by the demo itself, which runs no beat).

Ages are counted back from the trading clock (``trading.clock.trading_now``: the latest
event time), not the wall clock, so a replay or the demo's simulated January keeps its own
recent days. Recorded events are archived first (``marketdata.recorder.retention``: daily
Parquet files the backtester reads) and only the archived rows are deleted; book snapshots
and signal-log samples are derived or sampled data and are deleted outright. Entry and exit
rows of the signal log are kept (they explain trades).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from django.conf import settings

from marketdata.management.commands.archive_events import default_root
from marketdata.recorder.retention import (
    ArchivedDay,
    book_snapshots_delete_before,
    journal_archive_before,
)
from trading.clock import trading_now
from trading.models import Decision, DecisionKind

log = structlog.get_logger(__name__)

DELETE_CHUNK = 20_000


@dataclass
class RetentionReport:
    now: dt.datetime
    archived: list[ArchivedDay] = field(default_factory=list)
    events_deleted: int = 0
    book_snapshots_deleted: int = 0
    decisions_deleted: int = 0


def _decision_samples_delete_before(before: dt.datetime) -> int:
    doomed = Decision.objects.filter(
        ts__lt=before, kind__in=[DecisionKind.SAMPLE, DecisionKind.CHANGE]
    )
    deleted = 0
    while ids := list(doomed.values_list("id", flat=True)[:DELETE_CHUNK]):
        count, _ = Decision.objects.filter(id__in=ids).delete()
        deleted += count
    return deleted


def retention_enforce(
    *, now: dt.datetime | None = None, archive_root: Path | None = None
) -> RetentionReport:
    kbtc = settings.KBTC
    now = now or trading_now()
    report = RetentionReport(now=now)
    # Whole UTC days: the archive's unit; at least RETAIN_EVENTS_DAYS full days stay.
    events_before = (now - dt.timedelta(days=kbtc["RETAIN_EVENTS_DAYS"])).date()
    report.archived = journal_archive_before(events_before, archive_root or default_root())
    report.events_deleted = sum(day.deleted for day in report.archived)
    report.book_snapshots_deleted = book_snapshots_delete_before(
        now - dt.timedelta(days=kbtc["RETAIN_BOOK_SNAPSHOTS_DAYS"])
    )
    report.decisions_deleted = _decision_samples_delete_before(
        now - dt.timedelta(days=kbtc["RETAIN_DECISIONS_DAYS"])
    )
    log.info(
        "retention_enforced",
        now=now.isoformat(),
        archived_days=[str(day.day) for day in report.archived],
        events_deleted=report.events_deleted,
        book_snapshots_deleted=report.book_snapshots_deleted,
        decisions_deleted=report.decisions_deleted,
    )
    return report
