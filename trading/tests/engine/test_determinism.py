import json

from marketdata.model.book import OrderBook
from marketdata.sim.stream import generate_events
from trading.engine.engine import Engine
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import PositionClosed, trade_list_hash
from trading.tests.engine.factories import T0, replay


def run(events, latency_ms=0):
    return replay(Engine(DEFAULT_PARAMS), events, latency_ms)


def test_a_simulator_stream_replays_to_the_same_trades():
    events = list(generate_events(11, T0, 90))
    first, second = run(events), run(events)
    trades = [o for o in first if isinstance(o, PositionClosed)]
    assert trades, "the stream should trade, or this test proves nothing"
    assert trade_list_hash(first) == trade_list_hash(second)
    assert [o.to_dict() for o in first] == [o.to_dict() for o in second]
    json.dumps([o.to_dict() for o in first])


def test_fill_latency_is_event_time_and_deterministic():
    events = list(generate_events(11, T0, 60))
    assert trade_list_hash(run(events, 500)) == trade_list_hash(run(events, 500))


def test_the_trade_hash_ignores_everything_but_trades():
    assert trade_list_hash([]) == trade_list_hash(["not a trade"])


def test_book_top_is_the_same_on_the_sort_and_heap_paths():
    book = OrderBook("X")
    rows = [(p, p % 7 + 1) for p in range(10, 9990, 3)]  # > 2048 levels: the heap path
    book.apply_snapshot(rows, rows[:50])
    assert book.yes_bids(10) == sorted(rows, reverse=True)[:10]
    assert book.no_bids(3) == sorted(rows[:50], reverse=True)[:3]
    assert book.yes_bids(0) == []
