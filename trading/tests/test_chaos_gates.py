"""The canary's promotion gates (``trading.chaos.gates``) over stored live rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from marketdata.kalshi.account_wire import OrderInfo
from trading.chaos.gates import promotion_gates
from trading.models import LiveOrphan, LivePositionState

from .factories import T0_MS, trade

pytestmark = pytest.mark.django_db

SINCE = datetime.fromtimestamp(T0_MS / 1000 - 3600, tz=UTC)
TICKER = "KXBTC15M-26SEP211415-15"
ADOPTED = datetime.fromtimestamp(T0_MS / 1000 + 600, tz=UTC)


def order(client_order_id: str = "kbtc-live-1", **changes: Any) -> OrderInfo:
    fields: dict[str, Any] = {
        "order_id": client_order_id,
        "client_order_id": client_order_id,
        "ticker": TICKER,
        "side": "yes",
        "action": "buy",
        "status": "executed",
        "yes_price": 5_000,
        "initial_count": 200,
        "fill_count": 200,
        "remaining_count": 0,
        "fees": 10_000,
        "ts": T0_MS,
    }
    fields.update(changes)
    return OrderInfo(**fields)


def exit_attempt(n: int, *, side: str = "yes", **changes: Any) -> OrderInfo:
    """A 1 ¢ immediate-or-cancel exit that met no bid: canceled, nothing filled."""
    floor = 100 if side == "yes" else 9_900
    fields: dict[str, Any] = {
        "side": side,
        "action": "sell",
        "status": "canceled",
        "yes_price": floor,
        "fill_count": 0,
        "remaining_count": 200,
        "fees": 0,
        "ts": T0_MS + 590_000 + 2_000 * n,
    }
    fields.update(changes)
    return order(f"kbtc-live-sell-{n}", **fields)


def failed(*orders: OrderInfo) -> list[str]:
    gates = promotion_gates(since=SINCE, orders=orders)
    return [g.name for g in gates if not g.passed]


def settled_orphan(cause: str, ticker: str = TICKER) -> None:
    LiveOrphan.objects.create(
        lane="live",
        ticker=ticker,
        direction="long",
        contracts=2,
        cost=1,
        exposure=1,
        cause=cause,
        detected_at=ADOPTED,
        closed_at=ADOPTED,
        close_reason="ORPHAN_SETTLED",
    )


def test_one_clean_live_trade_passes_every_gate():
    trade(lane="live")
    assert failed(order()) == []


def test_no_live_trade_fails_the_trade_gate():
    trade(lane="paper")
    assert failed() == [">= 1 trade"]


def test_an_orphan_settled_trade_or_row_fails_its_gate():
    trade(lane="live", exit_reason="ORPHAN_SETTLED")
    assert failed() == ["0 ORPHAN_SETTLED"]


def test_a_deduplicated_orphan_settlement_fails_it_too():
    trade(lane="live")
    LiveOrphan.objects.create(
        lane="live",
        ticker="KXBTC15M-26SEP211415-15",
        direction="long",
        contracts=2,
        cost=1,
        exposure=1,
        cause="RECONCILE",
        detected_at=SINCE,
        closed_at=SINCE,
        close_reason="ORPHAN_SETTLED (dedup)",
    )
    assert failed() == ["0 ORPHAN_SETTLED"]


def test_an_oversize_order_on_the_exchange_fails_its_gate():
    trade(lane="live")
    assert failed(order(), order("kbtc-oversize-KXBTC15M-26SEP211415-15-1")) == [
        "0 oversized orphans"
    ]


def test_a_position_state_left_in_desync_fails_its_gate():
    trade(lane="live")
    LivePositionState.objects.create(
        lane="live", state="DESYNC", data={"state": "DESYNC", "desync_reason": "mismatch"}
    )
    assert failed() == ["no unresolved DESYNC"]


def test_two_trades_on_one_ticker_closed_within_a_minute_fail_their_gate():
    trade(lane="live", closed_at_ms=T0_MS + 300_000)
    trade(lane="live", closed_at_ms=T0_MS + 330_000)
    trade(lane="live", ticker="KXBTC15M-26SEP211430-30", closed_at_ms=T0_MS + 340_000)
    assert failed() == ["no two trades on one ticker in one minute"]


def test_trades_before_the_run_are_not_its_own():
    trade(lane="live", exit_reason="ORPHAN_SETTLED", closed_at_ms=T0_MS - 7200_000)
    trade(lane="live")
    assert failed() == []


def test_an_exit_into_an_empty_bid_side_settling_is_counted_but_passes():
    """Three 1 ¢ exit attempts that filled nothing prove the bid side was empty (real
    KXBTC15M books empty the losing side near the close): the orphan is §3.17.3's, not a
    position the lane lost track of. The gate names it."""
    trade(lane="live", ticker=TICKER, exit_reason="ORPHAN_SETTLED")
    settled_orphan("EXIT_FAILED")
    attempts = [exit_attempt(n) for n in range(3)]
    gates = promotion_gates(since=SINCE, orders=[order(), *attempts])
    gate = next(g for g in gates if g.name == "0 ORPHAN_SETTLED")
    assert gate.passed
    assert "1 of them exits into an empty bid side" in gate.detail
    assert TICKER in gate.detail
    # a NO position's exits: 1 ¢ on the NO side is a YES price of 99 ¢
    assert failed(order(side="no"), *[exit_attempt(n, side="no") for n in range(3)]) == []


@pytest.mark.parametrize(
    "attempts",
    [
        pytest.param([], id="no exit on the exchange"),
        pytest.param([exit_attempt(0), exit_attempt(1, yes_price=4_000)], id="not at the floor"),
        pytest.param([exit_attempt(0), exit_attempt(1, fill_count=100)], id="one sold some"),
        pytest.param([exit_attempt(0, status="resting")], id="left resting"),
        pytest.param([exit_attempt(0, ts=T0_MS - 600_000)], id="long before the adoption"),
    ],
)
def test_a_failed_exit_orphan_without_that_proof_fails_the_gate(attempts):
    trade(lane="live")
    settled_orphan("EXIT_FAILED")
    assert failed(order(), *attempts) == ["0 ORPHAN_SETTLED"]


def test_a_settled_orphan_of_another_cause_fails_even_with_empty_exits():
    trade(lane="live")
    settled_orphan("RECONCILE")
    assert failed(order(), *[exit_attempt(n) for n in range(3)]) == ["0 ORPHAN_SETTLED"]
