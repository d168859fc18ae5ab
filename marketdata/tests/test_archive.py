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


def test_reading_in_batches_gives_the_events_the_whole_file_gives(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from marketdata.archive import store
    from marketdata.archive.columns import table_to_events

    # own orders: string columns with nulls (client_order_id), every kind, one file
    stream = market_with_own_orders(3_000, seed=4)
    (written,) = write_events(tmp_path, "own", stream)
    whole = table_to_events(pq.read_table(written.path))  # one table, no batches
    assert whole == stream
    monkeypatch.setattr(store, "BATCH_ROWS", 97)  # batches that cut seconds and kinds
    assert list(read_events(tmp_path, "own")) == stream
    assert max(map(len, store.read_event_batches(tmp_path, "own"))) == 97
    middle = stream[len(stream) // 2].ts
    for start, end in [(middle, middle + 1), (middle - 2_000, middle + 3_000), (middle, None)]:
        expected = [e for e in stream if e.ts >= start and (end is None or e.ts < end)]
        assert expected
        assert list(read_events(tmp_path, "own", start, end)) == expected


def test_a_bad_row_in_a_later_batch_is_named_by_its_row_in_the_file(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from marketdata.archive import store
    from marketdata.archive.columns import events_to_table

    ticks = [ClockTick(ts=START_TS + 1_000 * i) for i in range(10)]
    table = events_to_table([*ticks, SpotTrade(ts=START_TS + 10_000, price=1.0, size=2.0)])
    kinds = table.column("kind").to_pylist()
    kinds[7] = "moon_phase"
    path = store.day_path(tmp_path, "bad", dt.date(2026, 1, 1))
    path.parent.mkdir(parents=True)
    pq.write_table(table.set_column(0, "kind", pa.array(kinds)), path)
    monkeypatch.setattr(store, "BATCH_ROWS", 4)
    with pytest.raises(ArchiveError, match=r"unknown event kind 'moon_phase' in archive row 7"):
        list(read_events(tmp_path, "bad"))
    no_size = table.set_column(
        table.schema.get_field_index("size"), "size", pa.array([None] * 11, pa.float64())
    )
    pq.write_table(no_size, path)
    with pytest.raises(ArchiveError, match=r"spot_trade in archive row 10 has no size"):
        list(read_events(tmp_path, "bad"))


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


def test_a_row_without_a_required_field_or_of_an_unknown_kind_is_refused_by_name(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from marketdata.archive.columns import events_to_table
    from marketdata.archive.store import day_path

    table = events_to_table([ClockTick(ts=START_TS), SpotTrade(ts=START_TS, price=1.0, size=2.0)])
    path = day_path(tmp_path, "bad", dt.date(2026, 1, 1))
    path.parent.mkdir(parents=True)
    no_size = table.set_column(
        table.schema.get_field_index("size"), "size", pa.array([None, None], pa.float64())
    )
    pq.write_table(no_size, path)
    with pytest.raises(ArchiveError, match=r"2026-01-01\.parquet: spot_trade .* has no size"):
        list(read_events(tmp_path, "bad"))
    strange = table.set_column(0, "kind", pa.array(["clock_tick", "moon_phase"]))
    pq.write_table(strange, path)
    with pytest.raises(ArchiveError, match=r"unknown event kind 'moon_phase' in archive row 1"):
        list(read_events(tmp_path, "bad"))


def _events_strategy():
    from hypothesis import strategies as st

    ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
    ts = st.integers(min_value=0, max_value=4_102_444_800_000)  # to 2100
    maybe_ts = st.none() | ts
    floats = st.floats(allow_nan=False)
    text = st.text(max_size=12)
    side = st.sampled_from(["yes", "no"])
    levels = st.lists(st.tuples(ints, ints), max_size=4).map(tuple)
    fraction = st.fractions(max_denominator=1000)
    return st.lists(
        st.one_of(
            st.builds(SpotTrade, ts=ts, price=floats, size=floats, trade_id=text, recv_ts=maybe_ts),
            st.builds(
                SpotTicker,
                ts=ts,
                price=floats,
                best_bid=st.none() | floats,
                best_ask=st.none() | floats,
                recv_ts=maybe_ts,
            ),
            st.builds(BookSnapshot, ts=ts, ticker=text, yes=levels, no=levels, recv_ts=maybe_ts),
            st.builds(
                BookDelta,
                ts=ts,
                ticker=text,
                side=side,
                price=ints,
                delta=ints,
                client_order_id=st.none() | text,
                recv_ts=maybe_ts,
            ),
            st.builds(
                MarketStatus,
                ts=ts,
                ticker=text,
                status=st.sampled_from(["listed", "open", "closed", "determined", "finalized"]),
                strike=st.none() | floats,
                open_ts=ts,
                close_ts=maybe_ts,
                result=st.none() | side,
                fee_type=text,
                fee_multiplier=fraction,
                recv_ts=maybe_ts,
            ),
            st.builds(ClockTick, ts=ts, recv_ts=maybe_ts),
            st.builds(
                PublicTrade,
                ts=ts,
                ticker=text,
                yes_price=ints,
                count=ints,
                taker_side=side,
                trade_id=text,
                recv_ts=maybe_ts,
            ),
            st.builds(
                OrderUpdate,
                ts=ts,
                order_id=text,
                client_order_id=text,
                ticker=text,
                side=side,
                action=st.sampled_from(["buy", "sell"]),
                status=st.sampled_from(["resting", "canceled", "executed"]),
                yes_price=ints,
                filled_count=ints,
                remaining_count=ints,
                recv_ts=maybe_ts,
            ),
            st.builds(
                OwnFill,
                ts=ts,
                trade_id=text,
                order_id=text,
                client_order_id=text,
                ticker=text,
                side=side,
                action=st.sampled_from(["buy", "sell"]),
                yes_price=ints,
                count=ints,
                fee=ints,
                is_taker=st.booleans(),
                recv_ts=maybe_ts,
            ),
        ),
        min_size=1,
        max_size=30,
    )


def test_any_stream_round_trips_exactly(tmp_path_factory):
    from hypothesis import given, settings

    @settings(max_examples=60, deadline=None)
    @given(_events_strategy())
    def round_trip(events):
        root = tmp_path_factory.mktemp("prop")
        write_events(root, "p", events)
        back = list(read_events(root, "p"))
        assert back == events
        assert [repr(e) for e in back] == [repr(e) for e in events]  # -0.0, types

    round_trip()
