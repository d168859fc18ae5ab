"""The live round trip's check (domain.md §3.18): the wallet drift and the post-trade
anomaly check, each anomaly on its own."""

from __future__ import annotations

import pytest

from trading.venues.live_position import LivePosition, PositionManagerState
from trading.venues.trade_check import alarming, round_trip_check

T = "KXBTC15M-26JAN010015-15"


def sold(**changes: object) -> LivePosition:
    """Ten contracts bought at 50 ¢ ($0.18 fees) and sold at 49 ¢ ($0.18): −$0.46."""
    position = LivePosition(
        T,
        "yes",
        0,
        entry_cost=5_000_000,
        entry_fees=180_000,
        exit_proceeds=4_900_000,
        exit_fees=180_000,
        bought=1000,
        sold=1000,
        entry_order_id="o-1",
        exit_order_ids=["o-2"],
        wallet_at_entry=100_000_000,
    )
    for name, value in changes.items():
        setattr(position, name, value)
    return position


def check(position: LivePosition, reason: str = "TIME_EXIT", **options: object) -> dict:
    state = options.pop("state", PositionManagerState())
    wallet_after = options.pop("wallet_after", 100_000_000 - 460_000)
    return round_trip_check(
        lane="live",
        position=position,
        reason=reason,
        state=state,  # type: ignore[arg-type]
        wallet_after=wallet_after,  # type: ignore[arg-type]
        drift_limit=50_000,
        **options,  # type: ignore[arg-type]
    )


def test_a_clean_round_trip_is_not_flagged():
    result = check(sold())
    assert (result["pnl"], result["drift"], result["flagged"]) == (-460_000, 0, "")


def desynced() -> PositionManagerState:
    state = PositionManagerState()
    state.to("DESYNC", reason="after the exit we hold 0.00 but the exchange 1.00")
    return state


def orphaned() -> PositionManagerState:
    state = PositionManagerState()
    state.adopt_orphan("KXBTC15M-26JAN010030-30", 100, "RECONCILE", 0)
    return state


@pytest.mark.parametrize(
    ("position", "reason", "state", "anomaly"),
    [
        (sold(), "TIME_EXIT", desynced(), "state DESYNC"),
        (sold(), "TIME_EXIT", orphaned(), "orphans held (KXBTC15M-26JAN010030-30)"),
        (sold(), "EMERGENCY_STOP", None, "reason EMERGENCY_STOP"),
        (sold(), "DESYNC", None, "reason DESYNC"),
        (sold(), "RETRY", None, "reason RETRY"),
        (sold(entry_order_id=""), "TIME_EXIT", None, "no entry order id"),
        (sold(exit_order_ids=[]), "TIME_EXIT", None, "no exit order id"),
        (sold(bought=0), "TIME_EXIT", None, "zero contracts"),
    ],
)
def test_each_anomaly_is_named(position, reason, state, anomaly):
    result = check(position, reason, state=state or PositionManagerState())
    assert result["anomalies"] == [anomaly]
    assert result["flagged"] == f"TRADE_ANOMALY: {anomaly}"


def test_a_loss_worse_than_ten_percent_of_the_cost_is_an_anomaly_and_ten_is_not():
    at_ten = sold(exit_proceeds=4_860_000)  # −$0.50 on $5.00 of cost
    assert check(at_ten, wallet_after=None)["anomalies"] == []
    worse = sold(exit_proceeds=4_859_999)
    assert check(worse, wallet_after=None)["anomalies"] == ["loss -10.0% of the entry cost"]
    # a loss alone is on the row, not an errors notice; beside another anomaly it is both
    assert alarming(check(worse, wallet_after=None)["anomalies"]) == []
    with_no_entry_id = check(sold(exit_proceeds=4_859_999, entry_order_id=""), wallet_after=None)
    assert alarming(with_no_entry_id["anomalies"]) == ["no entry order id"]


def test_a_settlement_has_no_exit_order_and_its_wallet_is_not_held_to_the_payout():
    won = sold(exit_proceeds=0, exit_fees=0, exit_order_ids=[], sold=0)
    result = check(won, "CONTRACT_SETTLED", wallet_after=100_000_000, payout=10_000_000)
    assert result["exit_proceeds"] == 10_000_000
    assert result["pnl"] == 10_000_000 - 5_180_000
    assert result["drift"] == 4_820_000  # shown, not flagged: the exchange pays on its own time
    assert result["flagged"] == ""
    failed = check(won, "CONTRACT_SETTLED_VERIFY_FAILED", wallet_after=None, payout=10_000_000)
    assert failed["flagged"] == "TRADE_ANOMALY: reason CONTRACT_SETTLED_VERIFY_FAILED"


def test_drift_and_anomalies_are_both_told():
    result = check(sold(), "EMERGENCY_STOP", wallet_after=100_000_000 - 600_000)
    assert result["flagged"] == (
        "BUG-025: PnL drift $0.140000 (pnl -0.460000, wallet -0.600000);"
        " TRADE_ANOMALY: reason EMERGENCY_STOP"
    )
