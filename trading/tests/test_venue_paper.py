from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import pytest

from marketdata.model.events import BookDelta, BookSnapshot, MarketStatus, OrderUpdate, OwnFill
from marketdata.model.fees import order_fee
from trading.engine.intents import CancelOrder, ClosePosition, PlaceOrder
from trading.venues.base import VenueReport
from trading.venues.paper import PaperVenue

TICKER = "KXBTC15M-26JAN010015-15"


def status(phase="open", multiplier=Fraction(1), fee_type="quadratic"):
    return MarketStatus(
        ts=0,
        ticker=TICKER,
        status=phase,
        strike=100_000.0,
        open_ts=0,
        close_ts=900_000,
        fee_type=fee_type,
        fee_multiplier=multiplier,
    )


def venue_with_book(latency_ms=0, **status_kwargs):
    venue = PaperVenue(latency_ms)
    venue.on_event(status(**status_kwargs))
    # YES bids 40¢×5, 39¢×10; NO bids 55¢×3 (YES ask 45¢), 54¢×4 (YES ask 46¢)
    venue.on_event(
        BookSnapshot(
            ts=0, ticker=TICKER, yes=((3900, 1000), (4000, 500)), no=((5400, 400), (5500, 300))
        )
    )
    return venue


@dataclass
class Order:
    """One order's reports, as an exchange account would send them: fills, then its end."""

    client_order_id: str
    fills: list[tuple[int, int, int]] = field(default_factory=list)
    ts: int = 0
    filled: int = 0
    status: str = ""
    reason: str = ""


def orders(reports: Sequence[VenueReport]) -> list[Order]:
    """Group reports by order; every order ends with exactly one terminal update."""
    by_id: dict[str, Order] = {}
    ended = []
    for report in reports:
        update = report.update
        assert isinstance(update, OwnFill | OrderUpdate)  # a paper venue sends no notices
        order = by_id.setdefault(update.client_order_id, Order(update.client_order_id))
        if isinstance(update, OwnFill):
            assert order.status == "", "a fill after the order ended"
            assert update.is_taker
            order.fills.append((update.yes_price, update.count, update.fee))
        else:
            assert isinstance(update, OrderUpdate)
            assert update.remaining_count == 0
            order.ts, order.filled, order.status = update.ts, update.filled_count, update.status
            order.reason = report.reason
            ended.append(order)
    assert len(ended) == len(by_id)
    for order in ended:
        assert order.filled == sum(count for _, count, _ in order.fills)
    return ended


def buy_yes(limit, count, ts=1000, coid="e1"):
    return PlaceOrder(ts, "paper", coid, TICKER, "yes", limit, count, "OBI HIGH")


def test_it_fills_a_long_entry_level_by_level_up_to_its_limit():
    venue = venue_with_book()
    venue.submit(buy_yes(4600, 600))
    [execution] = orders(venue.execute_due(1000))
    assert [(p, c) for p, c, _ in execution.fills] == [(4500, 300), (4600, 300)]
    assert (execution.status, execution.reason) == ("executed", "")


def test_it_never_fills_beyond_displayed_size_and_cancels_the_rest():
    venue = venue_with_book()
    venue.submit(buy_yes(4600, 1000))
    [execution] = orders(venue.execute_due(1000))
    assert execution.filled == 700
    assert (execution.status, execution.reason) == ("canceled", "partial")
    assert venue.next_due_ts() is None


def test_it_stops_at_the_limit_price():
    venue = venue_with_book()
    venue.submit(buy_yes(4500, 1000))
    [execution] = orders(venue.execute_due(1000))
    assert [(p, c) for p, c, _ in execution.fills] == [(4500, 300)]


def test_a_short_entry_hits_the_yes_bids():
    venue = venue_with_book()
    venue.submit(PlaceOrder(1000, "paper", "s1", TICKER, "no", 3900, 800, "ROC"))
    [execution] = orders(venue.execute_due(1000))
    assert [(p, c) for p, c, _ in execution.fills] == [(4000, 500), (3900, 300)]


def test_closing_a_long_sells_into_the_bids_and_closing_a_short_takes_the_asks():
    venue = venue_with_book()
    venue.submit(ClosePosition(1000, "paper", "x1", "pos", TICKER, "yes", 100, 200, "STOP_LOSS"))
    venue.submit(ClosePosition(1000, "paper", "x2", "pos", TICKER, "no", 9900, 200, "STOP_LOSS"))
    long_exit, short_exit = orders(venue.execute_due(1000))
    assert [(p, c) for p, c, _ in long_exit.fills] == [(4000, 200)]
    assert [(p, c) for p, c, _ in short_exit.fills] == [(4500, 200)]


def test_fees_are_rounded_up_once_per_order():
    venue = venue_with_book()
    venue.submit(buy_yes(4600, 600))
    [execution] = orders(venue.execute_due(1000))
    total = sum(fee for _, _, fee in execution.fills)
    # 7·c·p·(1−p) summed over the two levels, rounded up once (interfaces.md §6)
    raw = Fraction(7 * 300 * 4500 * 5500 + 7 * 300 * 4600 * 5400, 10**10)
    assert total == -(-raw.numerator // raw.denominator) * 10_000
    assert all(fee >= 0 for _, _, fee in execution.fills)


def test_fees_use_the_markets_multiplier():
    venue = venue_with_book(multiplier=Fraction(1, 2))
    venue.submit(buy_yes(4500, 300))
    [execution] = orders(venue.execute_due(1000))
    assert execution.fills[0][2] == order_fee(4500, 300, multiplier=Fraction(1, 2))


def test_an_order_waits_for_its_latency_in_event_time():
    venue = venue_with_book(latency_ms=250)
    venue.submit(buy_yes(4600, 100))
    assert venue.next_due_ts() == 1250
    assert not venue.execute_due(1249)
    venue.on_event(BookDelta(ts=1200, ticker=TICKER, side="no", price=5500, delta=-300))
    [execution] = orders(venue.execute_due(1250))
    assert execution.ts == 1250
    assert execution.fills[0][:2] == (4600, 100)  # the book as it stood at the due time


def test_it_does_not_fill_on_a_market_that_is_no_longer_open():
    venue = venue_with_book()
    venue.on_event(status("closed"))
    venue.submit(buy_yes(4600, 100))
    [execution] = orders(venue.execute_due(1000))
    assert execution.fills == []
    assert execution.reason == "market_closed"


def test_an_empty_side_fills_nothing():
    venue = PaperVenue()
    venue.on_event(status())
    venue.on_event(BookSnapshot(ts=0, ticker=TICKER, yes=((4000, 500),), no=()))
    venue.submit(buy_yes(9900, 100))
    [execution] = orders(venue.execute_due(1000))
    assert execution.reason == "no_liquidity"


def test_a_cancel_ends_a_queued_order_without_a_fill():
    venue = venue_with_book(latency_ms=500)
    venue.submit(buy_yes(4600, 100))
    [execution] = orders(venue.submit(CancelOrder(1100, "paper", "e1", "TIMEOUT")))
    assert (execution.status, execution.reason) == ("canceled", "cancelled")
    assert not venue.execute_due(5000)


def test_queued_orders_survive_a_snapshot():
    venue = venue_with_book(latency_ms=500)
    venue.submit(buy_yes(4600, 100))
    other = venue_with_book(latency_ms=500)
    other.restore(venue.snapshot())
    [execution] = orders(other.execute_due(1500))
    assert execution.client_order_id == "e1"


def test_negative_latency_is_refused():
    with pytest.raises(ValueError, match="latency"):
        PaperVenue(-1)
