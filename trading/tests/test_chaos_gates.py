"""The canary's promotion gates (``trading.chaos.gates``) over stored live rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trading.chaos.gates import promotion_gates
from trading.models import LiveOrphan, LivePositionState

from .factories import T0_MS, trade

pytestmark = pytest.mark.django_db

SINCE = datetime.fromtimestamp(T0_MS / 1000 - 3600, tz=UTC)


def failed(client_order_ids: tuple[str, ...] = ()) -> list[str]:
    gates = promotion_gates(since=SINCE, client_order_ids=client_order_ids)
    return [g.name for g in gates if not g.passed]


def test_one_clean_live_trade_passes_every_gate():
    trade(lane="live")
    assert failed(("kbtc-live-1",)) == []


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
    assert failed(("kbtc-live-1", "kbtc-oversize-KXBTC15M-26SEP211415-15-1")) == [
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
