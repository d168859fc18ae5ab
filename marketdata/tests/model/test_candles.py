from marketdata.model.candles import CandleAggregator

M = 60_000


def test_bar_closes_on_first_update_at_or_after_the_boundary():
    agg = CandleAggregator(60)
    assert agg.update(0, 100.0, 1.0) == []
    assert agg.update(30_000, 105.0, 2.0) == []
    assert agg.update(59_999, 95.0) == []
    closed = agg.update(M, 101.0)
    assert len(closed) == 1
    bar = closed[0]
    assert (bar.start_ts, bar.open, bar.high, bar.low, bar.close) == (0, 100.0, 105.0, 95.0, 95.0)
    assert bar.volume == 3.0
    assert bar.tick_count == 3
    assert bar.end_ts == M
    assert agg.current is not None
    assert agg.current.open == 101.0


def test_clock_tick_closes_a_quiet_bar():
    agg = CandleAggregator(900)
    agg.update(5_000, 50_000.0)
    assert agg.advance(899_999) == []
    closed = agg.advance(900_000)
    assert [c.close for c in closed] == [50_000.0]
    assert agg.current is None
    assert agg.advance(2_000_000) == []  # nothing open, nothing invented


def test_late_update_for_a_closed_bar_is_dropped():
    agg = CandleAggregator(60)
    agg.update(10_000, 1.0)
    agg.advance(M)
    assert agg.update(59_000, 2.0) == []
    assert agg.current is None
    assert agg.late_updates == 1
    agg.update(M + 1, 3.0)
    assert agg.current is not None
    assert agg.current.start_ts == M


def test_gap_does_not_invent_bars_and_ring_buffer_is_bounded():
    agg = CandleAggregator(60, keep=3)
    for i in range(10):
        agg.update(i * 5 * M, float(i))
    assert len(agg.closed) == 3
    assert [c.start_ts for c in agg.closed] == [6 * 5 * M, 7 * 5 * M, 8 * 5 * M]
