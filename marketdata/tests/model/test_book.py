import pytest

from marketdata.model.book import LevelFill, OrderBook
from marketdata.model.events import BookDelta, BookSnapshot


def make_book():
    book = OrderBook("KXBTC15M-26JUL232045-45")
    # YES bids 0.41 x25, 0.42 x13; NO bids 0.55 x7, 0.56 x40 → YES asks 0.44 x40, 0.45 x7
    book.apply_snapshot([(4100, 2500), (4200, 1300)], [(5500, 700), (5600, 4000)], ts=1)
    return book


def test_asks_are_derived_from_no_bids():
    book = make_book()
    assert book.best_yes_bid == 4200
    assert book.best_no_bid == 5600
    assert book.best_yes_ask == 4400
    assert book.best_no_ask == 5800
    assert book.spread == 200
    assert book.mid == 4300.0
    assert book.yes_asks(5) == [(4400, 4000), (4500, 700)]
    assert book.yes_bids(1) == [(4200, 1300)]


def test_empty_sides_give_none():
    book = OrderBook("T")
    assert book.best_yes_bid is None
    assert book.best_yes_ask is None
    assert book.spread is None
    assert book.mid is None
    book.apply_delta("yes", 3000, 100)
    assert book.best_yes_bid == 3000
    assert book.best_yes_ask is None
    assert book.mid is None


def test_delta_is_signed_and_removes_empty_levels():
    book = make_book()
    assert book.apply_delta("yes", 4200, -300) == 1000
    assert book.apply_delta("yes", 4200, -1000) == 0
    assert book.size_at("yes", 4200) == 0
    assert book.best_yes_bid == 4100  # best recomputed after the best level emptied
    assert book.apply_delta("yes", 4300, 500) == 500  # new level at 0.43
    assert book.best_yes_bid == 4300
    book.apply_delta("no", 5600, -9999)  # overshoot still removes
    assert book.best_yes_ask == 4500


def test_best_stays_correct_under_many_random_deltas():
    import random

    rng = random.Random(7)
    book = OrderBook("T")
    shadow: dict[int, int] = {}
    for _ in range(5000):
        price = rng.randrange(1, 100) * 100
        delta = rng.choice([-1, 1]) * rng.randrange(1, 500)
        book.apply_delta("yes", price, delta)
        new = shadow.get(price, 0) + delta
        if new > 0:
            shadow[price] = new
        else:
            shadow.pop(price, None)
        assert book.best_yes_bid == (max(shadow) if shadow else None)
    assert book.level_count() == len(shadow)


def test_depth_volumes_use_top_ten_levels():
    book = OrderBook("T")
    book.apply_snapshot(
        [(p * 100, 100) for p in range(1, 21)], [(p * 100, 200) for p in range(1, 16)]
    )
    assert book.bid_volume() == 1000
    assert book.ask_volume() == 2000
    assert book.bid_volume(3) == 300
    assert book.level_count() == 35


def test_walk_asks_fills_level_by_level_up_to_the_limit():
    book = make_book()
    assert book.walk_asks(4500, 5000) == [LevelFill(4400, 4000), LevelFill(4500, 700)]
    assert book.walk_asks(4400, 5000) == [LevelFill(4400, 4000)]
    assert book.walk_asks(4400, 1000) == [LevelFill(4400, 1000)]
    assert book.walk_asks(4300, 1000) == []
    assert book.best_yes_ask == 4400  # walking does not consume


def test_walk_bids_hits_yes_bids_down_to_the_limit():
    book = make_book()
    assert book.walk_bids(4100, 3000) == [LevelFill(4200, 1300), LevelFill(4100, 1700)]
    assert book.walk_bids(4200, 3000) == [LevelFill(4200, 1300)]
    assert book.walk_bids(4300, 3000) == []


def test_events_apply_and_snapshot_levels_come_back_ascending():
    book = OrderBook("T")
    book.apply(BookSnapshot(ts=5, ticker="T", yes=((4200, 100), (4100, 50)), no=((5500, 10),)))
    book.apply(BookDelta(ts=6, ticker="T", side="no", price=5700, delta=30))
    assert book.last_ts == 6
    assert book.snapshot_levels() == (((4100, 50), (4200, 100)), ((5500, 10), (5700, 30)))
    with pytest.raises(ValueError):
        book.apply(BookDelta(ts=7, ticker="OTHER", side="no", price=5700, delta=1))
    with pytest.raises(ValueError):
        book.apply_delta("yes", 0, 5)


def test_thickness_counts_both_sides_in_yes_space():
    book = make_book()
    assert book.thickness(4300, 100) == 1300 + 4000  # 0.42 bid and 0.44 ask
