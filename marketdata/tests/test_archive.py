"""The event archive: exact round trips, daily files in stream order, range reads, errors."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from django.core.management import CommandError, call_command

from marketdata.archive.store import (
    ArchiveError,
    day_files,
    read_events,
    stream_sha256,
    write_events,
)
from marketdata.model.events import (
    BookDelta,
    BookSnapshot,
    ClockTick,
    Event,
    MarketStatus,
    OrderUpdate,
    OwnFill,
    PublicTrade,
    SpotTicker,
    SpotTrade,
    event_to_dict,
)
from marketdata.models import RecordedEvent, RecordingSession
from marketdata.recorder.reader import iter_events
from marketdata.recorder.rows import ms_to_utc
from marketdata.sim.stream import generate_events
from marketdata.tests.factories import START_TS, market_with_own_orders

MIDNIGHT = START_TS + 86_400_000  # 2026-01-02T00:00Z


def every_kind_awkwardly(ts: int) -> list:
    """One event of each kind with the values a careless format would lose."""
    return [
        SpotTrade(ts=ts, price=0.1 + 0.2, size=1e-8, trade_id='q"\\\tü €', recv_ts=ts + 3),
        SpotTicker(ts=ts, price=94_123.456789012, best_bid=None, best_ask=1e300),
        BookSnapshot(ts=ts, ticker="KXBTC15M-26JAN010015-15", yes=(), no=((1, 1), (9999, 10**15))),
        BookSnapshot(ts=ts, ticker="T", yes=((4200, 1300),), no=()),
        BookDelta(ts=ts, ticker="T", side="no", price=10, delta=-250, client_order_id=None),
        BookDelta(ts=ts, ticker="T", side="yes", price=9990, delta=7, client_order_id="c-1"),
        PublicTrade(ts=ts, ticker="T", yes_price=5000, count=1, taker_side="no", trade_id=""),
        MarketStatus(ts=ts, ticker="T", status="open", strike=None, open_ts=ts, close_ts=None),
        MarketStatus(
            ts=ts,
            ticker="T",
            status="determined",
            strike=94_000.01,
            open_ts=ts - 900_000,
            close_ts=ts,
            result="yes",
            fee_type="quadratic_with_maker_fees",
            fee_multiplier=Fraction(7, 3),
            recv_ts=-1,
        ),
        OrderUpdate(
            ts=ts,
            order_id="o",
            client_order_id="c",
            ticker="T",
            side="yes",
            action="sell",
            status="canceled",
            yes_price=1,
            filled_count=0,
            remaining_count=2**62,
        ),
        OwnFill(
            ts=ts,
            trade_id="f",
            order_id="o",
            client_order_id="c",
            ticker="T",
            side="no",
            action="buy",
            yes_price=4321,
            count=100,
            fee=175_000,
            is_taker=False,
        ),
        ClockTick(ts=ts),
    ]


def test_every_kind_round_trips_exactly(tmp_path):
    events = every_kind_awkwardly(START_TS + 1)
    write_events(tmp_path, "hand", events)
    back = list(read_events(tmp_path, "hand"))
    assert back == events
    # equal and of the same types: a float that came back as an int would compare equal
    for mine, theirs in zip(events, back, strict=True):
        assert type(mine) is type(theirs)
        for (name, value), other in zip(
            event_to_dict(mine).items(), event_to_dict(theirs).values(), strict=True
        ):
            assert type(value) is type(other), name
            assert repr(value) == repr(other), name


def test_a_recorded_stream_with_own_orders_round_trips_in_order(tmp_path):
    stream = market_with_own_orders(5_000, seed=11)
    assert len({event.kind for event in stream}) == 9
    write_events(tmp_path, "own", stream)
    assert list(read_events(tmp_path, "own")) == stream


def test_a_simulated_day_boundary_splits_into_daily_files_that_concatenate_exactly(tmp_path):
    stream = list(generate_events(5, MIDNIGHT - 20 * 60_000, 40))
    written = write_events(tmp_path, "sim-seed5", stream)
    assert [f.day for f in written] == [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]
    assert [f.path.name for f in day_files(tmp_path, "sim-seed5")] == [
        "2026-01-01.parquet",
        "2026-01-02.parquet",
    ]
    assert sum(f.events for f in written) == len(stream)
    assert list(read_events(tmp_path, "sim-seed5")) == stream
    for start, end in [
        (MIDNIGHT - 5 * 60_000, MIDNIGHT + 5 * 60_000),
        (MIDNIGHT, MIDNIGHT + 1),
        (None, MIDNIGHT),
        (MIDNIGHT - 1, None),
    ]:
        expected = [
            e for e in stream if (start is None or e.ts >= start) and (end is None or e.ts < end)
        ]
        assert list(read_events(tmp_path, "sim-seed5", start, end)) == expected


def test_a_late_event_after_midnight_stays_after_what_it_followed(tmp_path):
    before, after = MIDNIGHT - 1_000, MIDNIGHT + 50
    late = SpotTrade(ts=MIDNIGHT - 10, price=1.5, size=2.0)  # consumed after midnight
    stream: list[Event] = [
        ClockTick(ts=before),
        ClockTick(ts=after),
        late,
        ClockTick(ts=MIDNIGHT + 2_000),
    ]
    write_events(tmp_path, "late", stream)
    assert [f.events for f in day_files(tmp_path, "late")] == [1, 3]
    assert list(read_events(tmp_path, "late")) == stream
    # the late event belongs to a range ending at midnight, though its file is the next day's
    assert list(read_events(tmp_path, "late", None, MIDNIGHT)) == [stream[0], late]
    assert list(read_events(tmp_path, "late", MIDNIGHT, None)) == [stream[1], stream[3]]


def test_rewriting_a_day_replaces_its_file_and_the_hash_follows_the_bytes(tmp_path):
    write_events(tmp_path, "s", [ClockTick(ts=START_TS)])
    first = stream_sha256(tmp_path, "s", None, None)
    write_events(tmp_path, "s", [ClockTick(ts=START_TS), ClockTick(ts=START_TS + 1_000)])
    assert len(list(read_events(tmp_path, "s"))) == 2
    assert stream_sha256(tmp_path, "s", None, None) != first
    assert [p.name for p in tmp_path.rglob("*") if p.name.startswith(".")] == []


def test_bad_stream_names_and_unreadable_files_are_refused_by_name(tmp_path):
    with pytest.raises(ArchiveError, match="bad archive stream name"):
        write_events(tmp_path, "../escape", [ClockTick(ts=START_TS)])
    write_events(tmp_path, "s", [ClockTick(ts=START_TS)])
    (path,) = tmp_path.glob("s/*/*.parquet")
    path.write_bytes(b"not parquet")
    with pytest.raises(ArchiveError, match=r"cannot read archive file .*2026-01-01\.parquet"):
        list(read_events(tmp_path, "s"))


def test_a_missing_stream_reads_as_empty(tmp_path):
    assert list(read_events(tmp_path, "nothing")) == []
    assert day_files(tmp_path, "nothing") == []


def _journal(events, label="t"):
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


@pytest.mark.django_db
def test_archive_events_command_archives_whole_journal_days(tmp_path):
    stream = list(generate_events(2, MIDNIGHT - 10 * 60_000, 20))
    _journal(stream)
    call_command(
        "archive_events", "--start", "2026-01-01", "--end", "2026-01-03", "--dir", str(tmp_path)
    )
    assert list(read_events(tmp_path, "journal")) == list(iter_events())
    assert list(read_events(tmp_path, "journal")) == stream
    # one day at a time writes the same files
    other = tmp_path / "again"
    for start, end in (("2026-01-02", "2026-01-03"), ("2026-01-01", "2026-01-02")):
        call_command("archive_events", "--start", start, "--end", end, "--dir", str(other))
    assert stream_sha256(other, "journal", None, None) == stream_sha256(
        tmp_path, "journal", None, None
    )


@pytest.mark.django_db
def test_archive_events_command_says_when_there_is_nothing_to_archive(tmp_path):
    with pytest.raises(CommandError, match="no events from 2025-01-01 to 2025-01-02"):
        call_command(
            "archive_events", "--start", "2025-01-01", "--end", "2025-01-02", "--dir", str(tmp_path)
        )
    with pytest.raises(CommandError, match="--end must be after --start"):
        call_command("archive_events", "--start", "2025-01-02", "--end", "2025-01-01")
