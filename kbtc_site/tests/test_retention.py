"""Retention: recorded events archived (the backtester's daily files) before their rows are
deleted, exactly the archived rows; book snapshots and signal-log samples deleted by age."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from kbtc_site.retention import retention_enforce
from marketdata.archive.store import ArchiveError, day_files, read_events, write_journal
from marketdata.model.events import Event, SpotTicker, event_to_dict
from marketdata.models import Candle, OrderBookSnapshot, RecordedEvent, RecordingSession
from marketdata.recorder.reader import iter_events, iter_keyed_events
from marketdata.recorder.rows import ms_to_utc
from marketdata.sim.stream import generate_events, history_for
from trading.models import Decision, DecisionKind

pytestmark = pytest.mark.django_db

DAY = 86_400_000
JAN1 = 1_767_225_600_000  # 2026-01-01T00:00Z


def at(day: int, hour: float = 0) -> dt.datetime:
    return dt.datetime(2026, 1, day, tzinfo=dt.UTC) + dt.timedelta(hours=hour)


def journal(events: list[Event], label: str = "t") -> RecordingSession:
    session = RecordingSession.objects.create(started_at=ms_to_utc(events[0].ts), label=label)
    RecordedEvent.objects.bulk_create(
        RecordedEvent(
            session=session,
            seq=seq,
            ts=ms_to_utc(event.ts),
            kind=event.kind,
            ticker=getattr(event, "ticker", ""),
            fields=event_to_dict(event),
        )
        for seq, event in enumerate(events, start=1)
    )
    return session


def tickers(start: int, end: int, step: int = 600_000) -> list[Event]:
    return [SpotTicker(ts=ts, price=90_000.0 + ts % 977) for ts in range(start, end, step)]


@pytest.fixture
def keep_one_day(settings: Any) -> None:
    settings.KBTC = {
        **settings.KBTC,
        "RETAIN_EVENTS_DAYS": 1,
        "RETAIN_BOOK_SNAPSHOTS_DAYS": 1,
        "RETAIN_DECISIONS_DAYS": 1,
    }


def test_events_past_retention_are_archived_then_exactly_those_rows_deleted(
    tmp_path: Path, keep_one_day: None
) -> None:
    # Three days, and a late event: stamped just before Jan 2 but arriving after a Jan 2 one,
    # so it belongs to Jan 2's file (the stream's "now" had crossed midnight).
    late = SpotTicker(ts=JAN1 + DAY - 500, price=1.0)
    stream = [*tickers(JAN1, JAN1 + DAY), SpotTicker(ts=JAN1 + DAY + 100, price=2.0), late]
    stream += tickers(JAN1 + DAY + 600_000, JAN1 + 3 * DAY)
    journal(stream)
    day1 = tickers(JAN1, JAN1 + DAY)

    report = retention_enforce(now=at(3, 12), archive_root=tmp_path)
    assert [(d.day, d.archived, d.deleted) for d in report.archived] == [
        (dt.date(2026, 1, 1), len(day1), len(day1))
    ]
    assert list(read_events(tmp_path, "journal")) == day1
    assert list(iter_events()) == stream[len(day1) :]  # the late event waits for Jan 2's file

    retention_enforce(now=at(4, 12), archive_root=tmp_path)
    assert [f.day.day for f in day_files(tmp_path, "journal")] == [1, 2]
    assert list(read_events(tmp_path, "journal")) + list(iter_events()) == stream
    assert list(iter_events()) == tickers(JAN1 + 2 * DAY, JAN1 + 3 * DAY)


def test_a_day_file_that_exists_is_merged_never_replaced_by_less(
    tmp_path: Path, keep_one_day: None
) -> None:
    first = journal(tickers(JAN1, JAN1 + DAY))
    # An earlier run wrote the day's file and died having deleted half of the day's rows.
    write_journal(tmp_path, "journal", iter_keyed_events(), days=(at(1).date(), at(1).date()))
    RecordedEvent.objects.filter(session=first, seq__lte=72).delete()
    # A restart's spill then brought one more event of that day, in a new session.
    spilled = SpotTicker(ts=JAN1 + 3_600_000 + 1, price=3.0)
    journal([spilled], label="spill")
    journal(tickers(JAN1 + 2 * DAY, JAN1 + 2 * DAY + 3_600_000), label="today")

    report = retention_enforce(now=at(3, 1), archive_root=tmp_path)
    assert report.events_deleted == 144 - 72 + 1
    archived = list(read_events(tmp_path, "journal"))
    assert archived == [*tickers(JAN1, JAN1 + DAY), spilled]  # journal order: session, seq
    assert RecordedEvent.objects.filter(ts__lt=at(2)).count() == 0


def test_nothing_is_deleted_when_the_archive_cannot_be_written(
    tmp_path: Path, keep_one_day: None
) -> None:
    journal(tickers(JAN1, JAN1 + 2 * DAY))
    blocked = tmp_path / "archive"
    blocked.write_text("a file where the archive folder should be")
    with pytest.raises((ArchiveError, OSError)):
        retention_enforce(now=at(3, 12), archive_root=blocked)
    assert RecordedEvent.objects.count() == 2 * 144


def test_snapshots_and_decision_samples_go_by_age_and_entries_stay(
    tmp_path: Path, keep_one_day: None
) -> None:
    for when in (at(1, 12), at(3, 11)):
        OrderBookSnapshot.objects.create(
            ticker="T", ts=when, yes_bids=[], no_bids=[], yes_depth=Decimal(0),
            no_depth=Decimal(0),
        )  # fmt: skip
        for kind in DecisionKind.values:
            Decision.objects.create(lane="paper", ts=when, kind=kind)
    report = retention_enforce(now=at(3, 12), archive_root=tmp_path)
    assert (report.book_snapshots_deleted, report.decisions_deleted) == (1, 2)
    assert list(OrderBookSnapshot.objects.values_list("ts", flat=True)) == [at(3, 11)]
    kept = set(Decision.objects.values_list("ts", "kind"))
    assert kept == {(at(1, 12), "entry"), (at(1, 12), "exit")} | {
        (at(3, 11), kind) for kind in DecisionKind.values
    }


def _backtest(source: str, archive: Path) -> dict[str, Any]:
    out = StringIO()
    call_command(
        "backtest", "--source", source, "--start", "2026-01-01T00:00", "--end",
        "2026-01-01T03:00", "--archive-dir", str(archive), "--history", "table",
        "--json", "--no-progress", stdout=out,
    )  # fmt: skip
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.slow
def test_a_backtest_over_an_archived_period_runs_as_it_did_on_the_journal(
    tmp_path: Path, keep_one_day: None
) -> None:
    Candle.objects.bulk_create(
        Candle(
            source="binance",
            interval_s=60,
            open_time=ms_to_utc(bar.ts),
            open=Decimal(bar.open),
            high=Decimal(bar.high),
            low=Decimal(bar.low),
            close=Decimal(bar.close),
        )
        for bar in history_for(7, JAN1, 180).bars
        if JAN1 - 16 * 3_600_000 <= bar.ts < JAN1  # the warm-up: the stream's own past
    )
    journal(list(generate_events(7, JAN1, 180)))
    journal(tickers(JAN1 + 2 * DAY, JAN1 + 2 * DAY + 3_600_000), label="today")
    on_journal = _backtest("journal", tmp_path)

    retention_enforce(now=at(3, 12), archive_root=tmp_path)
    assert RecordedEvent.objects.filter(ts__lt=at(2)).count() == 0
    on_archive = _backtest("archive", tmp_path)
    assert on_archive["events"] == on_journal["events"] > 0
    assert on_archive["trade_list_sha256"] == on_journal["trade_list_sha256"]
    assert on_archive["trades"] == on_journal["trades"] > 0
