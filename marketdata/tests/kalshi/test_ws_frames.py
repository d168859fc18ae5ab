"""Kalshi WS frame handling without sockets: parsing into events, the seq rule, and fuzzed
malformed frames (never a crash, always counted, never a made-up number)."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketdata.kalshi.wire import MarketInfo
from marketdata.kalshi.ws import KalshiWsClient
from marketdata.model.events import BookDelta, BookSnapshot, MarketStatus, OwnFill, PublicTrade
from marketdata.model.units import WireFormatError, parse_dollars
from marketdata.tests.kalshi_fixtures import Collector, signer

T = "KXBTC15M-26JUL232045-45"
DELTA = {
    "type": "orderbook_delta",
    "sid": 2,
    "seq": 2,
    "msg": {
        "market_ticker": T,
        "market_id": "m",
        "price_dollars": "0.9950",
        "delta_fp": "-54.00",
        "side": "yes",
        "ts_ms": 1_784_853_000_000,
    },
}


def ready_client() -> tuple[KalshiWsClient, Collector]:
    """A client whose book subscription (sid 2) holds ``T`` with a snapshot at seq 1."""
    collector = Collector()
    client = KalshiWsClient("ws://unused/trade-api/ws/v2", signer(), collector)
    client.wanted = frozenset({T})
    client._subscribed.add(T)
    client._market_sub_requested = True
    feed = [
        {"id": 1, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 2}},
        {"id": 1, "type": "subscribed", "msg": {"channel": "trade", "sid": 3}},
        {
            "type": "orderbook_snapshot",
            "sid": 2,
            "seq": 1,
            "msg": {
                "market_ticker": T,
                "yes_dollars_fp": [["0.9950", "100.00"], ["0.4100", "25.00"]],
                "no_dollars_fp": [["0.5500", "7.00"]],
            },
        },
    ]
    for frame in feed:
        client.dispatch(json.dumps(frame), recv_ts=1)
    return client, collector


def sent(client: KalshiWsClient) -> list[dict[str, Any]]:
    messages = []
    while not client._outbox.empty():
        messages.append(client._outbox.get_nowait())
    return messages


def test_snapshot_and_delta_become_exact_book_events():
    client, collector = ready_client()
    client.dispatch(json.dumps(DELTA), recv_ts=7)
    snapshot, delta = collector.events
    assert snapshot == BookSnapshot(
        ts=1, ticker=T, yes=((4100, 2500), (9950, 10000)), no=((5500, 700),), recv_ts=1
    )
    assert delta == BookDelta(
        ts=1_784_853_000_000, ticker=T, side="yes", price=9950, delta=-5400, recv_ts=7
    )
    assert collector.levels(T) == (((4100, 2500), (9950, 4600)), ((5500, 700),))


def test_a_skip_repeat_or_decrease_resnapshots_every_book_on_the_sid():
    for seq in (3, 1, 0):  # skip, repeat of the snapshot's seq, decrease
        client, collector = ready_client()
        sent(client)
        client.dispatch(json.dumps({**DELTA, "seq": seq}), recv_ts=2)
        assert [e.kind for e in collector.events] == ["book_snapshot"]  # delta not applied
        assert T not in client.valid_books
        assert sent(client) == [
            {
                "id": 1,
                "cmd": "update_subscription",
                "params": {"sids": [2], "market_tickers": [T], "action": "get_snapshot"},
            }
        ]
        assert client.stats.resnapshots == 1


def test_deltas_wait_for_the_fresh_snapshot_after_a_gap():
    client, collector = ready_client()
    client.dispatch(json.dumps({**DELTA, "seq": 5}), recv_ts=2)
    client.dispatch(json.dumps({**DELTA, "seq": 6}), recv_ts=2)
    snapshot = {"type": "orderbook_snapshot", "sid": 2, "seq": 7, "msg": {"market_ticker": T}}
    client.dispatch(json.dumps(snapshot), recv_ts=3)
    client.dispatch(json.dumps({**DELTA, "seq": 8}), recv_ts=4)
    assert [e.kind for e in collector.events] == ["book_snapshot", "book_snapshot", "book_delta"]
    assert client.stats.resnapshots == 1


def test_trades_fills_and_lifecycle_become_events():
    client, collector = ready_client()
    client.remember_markets(
        [MarketInfo(T, T[:-3], "active", 1_784_853_000_000, 1_784_853_900_000, 64839.26, None)]
    )
    frames = [
        {
            "type": "trade",
            "sid": 3,
            "seq": 1,
            "msg": {
                "trade_id": "t1",
                "market_ticker": T,
                "yes_price_dollars": "0.4200",
                "no_price_dollars": "0.5800",
                "count_fp": "13.50",
                "taker_outcome_side": "no",
                "ts_ms": 1_784_853_100_000,
            },
        },
        {
            "type": "fill",
            "sid": 9,
            "msg": {
                "trade_id": "t2",
                "order_id": "o1",
                "market_ticker": T,
                "is_taker": True,
                "side": "no",
                "action": "buy",
                "yes_price_dollars": "0.4200",
                "count_fp": "2.00",
                "fee_cost": "0.0300",
                "client_order_id": "c1",
                "ts_ms": 1_784_853_100_500,
            },
        },
        {
            "type": "market_lifecycle_v2",
            "sid": 1,
            "msg": {
                "event_type": "determined",
                "market_ticker": T,
                "result": "yes",
                "determination_ts": 1_784_853_906,
            },
        },
        {
            "type": "market_lifecycle_v2",
            "sid": 1,
            "msg": {"event_type": "determined", "market_ticker": "KXETH-OTHER", "result": "yes"},
        },
    ]
    for frame in frames:
        client.dispatch(json.dumps(frame), recv_ts=5)
    trade, fill, status = collector.events[1:]
    assert trade == PublicTrade(
        ts=1_784_853_100_000,
        ticker=T,
        yes_price=4200,
        count=1350,
        taker_side="no",
        trade_id="t1",
        recv_ts=5,
    )
    assert fill == OwnFill(
        ts=1_784_853_100_500,
        trade_id="t2",
        order_id="o1",
        client_order_id="c1",
        ticker=T,
        side="no",
        action="buy",
        yes_price=4200,
        count=200,
        fee=30_000,
        is_taker=True,
        recv_ts=5,
    )
    assert status == MarketStatus(
        ts=1_784_853_906_000,
        ticker=T,
        status="determined",
        strike=64839.26,
        open_ts=1_784_853_000_000,
        close_ts=1_784_853_900_000,
        result="yes",
        recv_ts=5,
    )
    assert client.stats.malformed == 0


def test_an_empty_result_is_never_read_as_no():
    client, collector = ready_client()
    client.remember_markets([MarketInfo(T, T[:-3], "closed", 1, 2, None, None)])
    frame = {
        "type": "market_lifecycle_v2",
        "sid": 1,
        "msg": {"event_type": "determined", "market_ticker": T, "result": ""},
    }
    client.dispatch(json.dumps(frame), recv_ts=5)
    status = collector.events[-1]
    assert isinstance(status, MarketStatus)
    assert status.status == "determined"
    assert status.result is None


def test_a_malformed_frame_is_counted_and_logged_with_its_reason(caplog):
    client, collector = ready_client()
    bad = json.loads(json.dumps(DELTA))
    bad["msg"]["price_dollars"] = "0.42.0"
    with caplog.at_level(logging.WARNING):
        client.dispatch(json.dumps(bad), recv_ts=1)
        client.dispatch('{"type": "orderbook_delta", "sid"', recv_ts=1)
    assert client.stats.malformed == 2
    assert "feed_malformed_frame" in caplog.text
    assert "price_dollars" in caplog.text
    assert len(collector.events) == 1  # the snapshot only: nothing guessed
    # A book frame that could not be read is a lost update: the book is refreshed.
    assert client.stats.resnapshots == 1


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["0.4200", "1.0001", "-0.01", "1e3", "NaN", "0.00001", "", "yes", "no"]),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
FRAME_TYPES = [
    "orderbook_snapshot",
    "orderbook_delta",
    "trade",
    "ticker",
    "fill",
    "user_order",
    "market_lifecycle_v2",
    "subscribed",
    "ok",
    "error",
    "unsubscribed",
    "mystery",
]
QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@QUICK
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_fuzzed_bytes_never_crash_and_non_json_is_counted(raw):
    client, _ = ready_client()
    before = client.stats.malformed
    client.dispatch(raw, recv_ts=1)
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        assert client.stats.malformed == before + 1


@QUICK
@given(
    field=st.sampled_from(
        ["market_ticker", "price_dollars", "delta_fp", "side", "ts_ms", "seq", "sid", "msg", "type"]
    ),
    junk=JUNK,
)
def test_a_delta_with_any_field_corrupted_never_crashes_or_invents_a_price(field, junk):
    client, collector = ready_client()
    frame = json.loads(json.dumps(DELTA))
    if field in ("seq", "sid", "msg", "type"):
        frame[field] = junk
    else:
        frame["msg"][field] = junk
    client.dispatch(json.dumps(frame), recv_ts=1)
    handled = (
        client.stats.malformed + client.stats.ignored + client.stats.events + client.stats.seq_gaps
    )
    assert handled >= 2  # the snapshot, plus this frame accounted for somewhere
    # A price comes only from the frame: the original one, or the junk where the junk is
    # itself a well-formed price ("0.1" is a price; "", ".1", None are not): never a default.
    possible = {9950}
    if field == "price_dollars":
        with contextlib.suppress(WireFormatError):
            possible.add(parse_dollars(junk))
    for event in collector.events[1:]:
        assert isinstance(event, BookDelta)
        assert 0 < event.price < 10_000
        assert event.price in possible


@QUICK
@given(
    kind=st.sampled_from(FRAME_TYPES),
    msg=st.dictionaries(
        st.sampled_from(
            [
                "market_ticker",
                "price_dollars",
                "delta_fp",
                "side",
                "ts_ms",
                "yes_dollars_fp",
                "no_dollars_fp",
                "count_fp",
                "yes_price_dollars",
                "event_type",
                "result",
                "open_ts",
                "close_ts",
                "channel",
                "sid",
                "order_id",
                "is_taker",
                "fee_cost",
                "status",
                "code",
                "ticker",
            ]
        ),
        JUNK,
        max_size=8,
    ),
    seq=st.one_of(st.none(), st.integers(min_value=-3, max_value=5)),
)
def test_any_frame_shape_is_handled_without_crashing(kind, msg, seq):
    client, _ = ready_client()
    frame: dict[str, Any] = {"type": kind, "sid": 2, "msg": msg}
    if seq is not None:
        frame["seq"] = seq
    client.dispatch(json.dumps(frame), recv_ts=1)
    assert client.stats.handler_errors == 0


def test_a_pathologically_nested_frame_is_malformed_not_fatal():
    client, _ = ready_client()
    client.dispatch("[" * 100_000 + "]" * 100_000, recv_ts=1)
    assert client.stats.malformed == 1
