from __future__ import annotations

from trading import charts


def test_a_range_takes_the_smallest_bucket_that_fits_the_bound():
    assert charts.bucket_for(0) == 60
    assert charts.bucket_for(86_400) == 60  # 1,441 one-minute bars
    assert charts.bucket_for(7 * 86_400) == 900  # 5-minute bars would be 2,017
    assert charts.bucket_for(30 * 86_400) == 3600
    assert charts.bucket_for(3 * 365 * 86_400) == 86_400
    assert charts.bucket_for(100 * 365 * 86_400) == 7 * 86_400  # the widest, past the bound
    assert charts.bucket_for(86_400, max_points=100) == 900


def test_bars_merge_into_epoch_aligned_ohlc_buckets():
    bars = [(60 * i, 10 + i, 20 + i, 5 + i, 11 + i, 1) for i in range(7)]
    assert charts.ohlc_buckets(bars, 300) == [
        {"time": 0, "open": 10.0, "high": 24.0, "low": 5.0, "close": 15.0, "volume": 5.0},
        {"time": 300, "open": 15.0, "high": 26.0, "low": 10.0, "close": 17.0, "volume": 2.0},
    ]


def test_a_bar_repeated_at_the_same_time_replaces_the_earlier_one():
    bars = [(0, 1, 2, 0, 1, 1), (0, 5, 9, 4, 6, 3), (60, 6, 7, 5, 6, 1)]
    assert charts.ohlc_buckets(bars, 300) == [
        {"time": 0, "open": 5.0, "high": 9.0, "low": 4.0, "close": 6.0, "volume": 4.0}
    ]


def test_the_equity_curve_keeps_its_first_point_and_each_buckets_last():
    points = [{"time": t, "v": t} for t in (10, 20, 30, 70, 80, 200)]
    assert [p["time"] for p in charts.last_per_bucket(points, 60)] == [10, 30, 80, 200]
    assert charts.last_per_bucket([], 60) == []
    assert charts.last_per_bucket([{"time": 5}], 60) == [{"time": 5}]
