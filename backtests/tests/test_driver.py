"""The driver is the daemon's session: same trades, one pass for many sets, gaps refused,
no look-ahead."""

from __future__ import annotations

import dataclasses

import pytest

from backtests.driver import DataGap, ParamSet, build_session, run_pass
from backtests.sources import history_source
from backtests.tests.helpers import BANKROLL, LATENCY, SEED, START, kline_file, write_klines
from marketdata.model.events import ClockTick
from marketdata.sim.prices import history_candles, load_history
from marketdata.sim.stream import generate_events, history_for
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import Decision, PositionClosed, trade_list_hash
from trading.runtime.session import new_session, paper_venues

MINUTES = 120


@pytest.fixture(scope="module")
def market():
    history = history_for(SEED, START, MINUTES)
    events = list(generate_events(SEED, START, MINUTES, history))
    return events, history_candles(history, START, count=60)


def _pass(events, sets, warmup, end_ts=None, **options):
    end_ts = end_ts or START + MINUTES * 60_000
    return run_pass(
        events,
        sets,
        lane="paper",
        bankroll=BANKROLL,
        latency_ms=LATENCY,
        warmup=warmup,
        start_ts=START,
        end_ts=end_ts,
        max_gap_ms=options.pop("max_gap_ms", 60_000),
        **options,
    )


def test_it_trades_exactly_as_the_daemons_session(market):
    events, warmup = market
    daemon_like = new_session(
        DEFAULT_PARAMS, bankroll=BANKROLL, venues=paper_venues(LATENCY), warmup=warmup
    ).feed_all(events)
    expected = [o for o in daemon_like if isinstance(o, PositionClosed)]
    result = _pass(events, [ParamSet("default", DEFAULT_PARAMS)], warmup)
    (sink,) = result.sinks
    assert len(expected) > 0
    assert sink.trades == expected
    assert sink.trade_list_sha256() == trade_list_hash(daemon_like)
    assert sink.decisions == sum(isinstance(o, Decision) for o in daemon_like)
    assert result.events == len(events)
    bankroll = BANKROLL
    for (ts, value), trade in zip(sink.equity, expected, strict=True):
        bankroll += trade.pnl
        assert (ts, value) == (trade.ts, bankroll)


def _money(trades):
    """A trade without the lane's name (a research lane is named by its set)."""
    return [
        (t.ticker, t.direction, t.opened_ts, t.ts, t.count, t.entry_yes_price,
         t.exit_yes_price, t.fees, t.pnl, t.reason)
        for t in trades
    ]  # fmt: skip


def test_several_sets_are_research_lanes_of_one_pass_that_trade_as_they_would_alone(market):
    events, warmup = market
    wide = dataclasses.replace(DEFAULT_PARAMS, stop_loss_frac=0.08, profit_target_mult=3.0)
    together = _pass(events, [ParamSet("default", DEFAULT_PARAMS), ParamSet("wide", wide)], warmup)
    alone = _pass(events, [ParamSet("wide", wide)], warmup)
    assert {t.lane for t in together.sinks[1].trades} == {"wide"}
    assert _money(together.sinks[1].trades) == _money(alone.sinks[0].trades)
    assert _money(together.sinks[0].trades) != _money(together.sinks[1].trades)


def test_sets_of_one_pass_must_share_their_market_parameters(market):
    events, warmup = market
    odd = dataclasses.replace(DEFAULT_PARAMS, obi_history_len=5)
    with pytest.raises(ValueError, match="obi_history_len of odd"):
        _pass(events, [ParamSet("default", DEFAULT_PARAMS), ParamSet("odd", odd)], warmup)


def test_a_hole_in_the_stream_stops_the_pass_naming_its_times(market):
    events, warmup = market
    holed = [e for e in events if not START + 1_800_000 <= e.ts < START + 2_000_000]
    with pytest.raises(
        DataGap, match=r"no events from 2026-01-01T00:29:59\.\d{3}Z to 2026-01-01T00:33:20"
    ):
        _pass(holed, [ParamSet("default", DEFAULT_PARAMS)], warmup)
    with pytest.raises(DataGap, match=r"to 2026-01-01T03:00:00\.000Z \(the period's end\)"):
        _pass(events, [ParamSet("default", DEFAULT_PARAMS)], warmup, end_ts=START + 3 * 3_600_000)
    with pytest.raises(
        DataGap, match=r"no events from 2026-01-01T00:00:00\.000Z to 2026-01-01T02:00:00"
    ):
        _pass([], [ParamSet("default", DEFAULT_PARAMS)], warmup)
    quiet = [ClockTick(ts=START + s * 1000) for s in range(0, 7200, 50)]
    _pass(quiet, [ParamSet("default", DEFAULT_PARAMS)], warmup)  # 50 s apart: within 60 s


def test_a_run_stopped_at_t_decides_like_a_longer_run_before_t(market):
    events, warmup = market
    t = START + 75 * 60_000

    def outputs(stream):
        session = build_session(
            DEFAULT_PARAMS, lanes=("paper",), bankroll=BANKROLL, latency_ms=LATENCY, warmup=warmup
        )
        return [o for e in stream for o in session.feed(e)]

    short = outputs(e for e in events if e.ts < t)
    long = [o for o in outputs(events) if getattr(o, "ts", t) < t]
    decisions = [o for o in short if isinstance(o, Decision)]
    assert len(decisions) > 100
    assert decisions == [o for o in long if isinstance(o, Decision)]
    assert [o for o in short if isinstance(o, PositionClosed)] == [
        o for o in long if isinstance(o, PositionClosed)
    ]


def test_the_history_sources_books_before_t_ignore_what_comes_after_t(tmp_path):
    path = kline_file(tmp_path, hours_after=4)
    bars = load_history(str(path)).bars
    t = START + 90 * 60_000
    # another future: the same bars until t, then the path mirrored (falls where it rose)
    cut = next(i for i, bar in enumerate(bars) if bar.ts >= t)
    pivot = bars[cut - 1].close
    other = bars[:cut] + [
        dataclasses.replace(
            b,
            open=2 * pivot - b.open,
            high=2 * pivot - b.low,
            low=2 * pivot - b.high,
            close=2 * pivot - b.close,
        )
        for b in bars[cut:]
    ]
    other_path = write_klines(tmp_path / "other.csv", other)
    end = START + 2 * 3_600_000

    def before_t(kline_path):
        source = history_source(START, end, history=kline_path, seed=3)
        return source, [e for e in source.events() if e.ts < t]

    first, seen = before_t(path)
    second, seen_other = before_t(other_path)
    assert len(seen) > 30_000
    assert seen == seen_other
    assert first.warmup == second.warmup
    assert first.sha256() != second.sha256()  # different data, different identity
    after = [e for e in first.events() if e.ts >= t]
    assert after != [e for e in second.events() if e.ts >= t]


def test_the_history_source_ends_just_before_its_end_wherever_that_falls(tmp_path):
    path = kline_file(tmp_path, hours_after=1)
    stream = list(generate_events(SEED, START, 4, load_history(str(path))))
    # the simulator hands out a minute at a time: ends inside one, on one's first event, after all
    for end in (START + 150_500, stream[1_000].ts, START + 4 * 60_000):
        expected = [e for e in stream if e.ts < end]
        assert list(history_source(START, end, history=path, seed=SEED).events()) == expected
