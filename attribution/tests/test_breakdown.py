"""attribute(): one summary per conviction, direction, regime, session and exit reason."""

from __future__ import annotations

from dataclasses import dataclass

from attribution.breakdown import attribute, session_of

HOUR = 3_600_000
DAY0 = 1_735_689_600_000  # 2025-01-01T00:00Z


@dataclass(frozen=True)
class T:
    opened_ts: int
    ts: int
    pnl: int
    pnl_frac: float
    fees: int = 10_000
    direction: str = "LONG"
    conviction: str = "NORMAL"
    regime: str = "LOW"
    reason: str = "STOP_LOSS"


def test_sessions_follow_the_utc_hour_table():
    names = [session_of(DAY0 + h * HOUR) for h in range(24)]
    assert (
        names
        == ["ASIA"] * 8 + ["LONDON"] * 5 + ["US_OPEN"] * 2 + ["US_MAIN"] * 5 + ["US_CLOSE"] * 4
    )


def test_it_attributes_each_trade_once_per_dimension_by_its_entry():
    trades = [
        T(DAY0 + 7 * HOUR + 59 * 60_000, DAY0 + 8 * HOUR + 5 * 60_000, 2_000_000, 0.2),  # ASIA
        T(
            DAY0 + 14 * HOUR,
            DAY0 + 14 * HOUR + 60_000,
            -1_000_000,
            -0.1,
            direction="SHORT",
            conviction="HIGH",
            regime="MEDIUM",
            reason="TAKE_PROFIT",
        ),
        T(DAY0 + 21 * HOUR, DAY0 + 21 * HOUR + 120_000, -500_000, -0.05, regime=""),
    ]
    result = attribute(trades)
    assert (result["trades"], result["pnl"]) == (3, 500_000)
    assert result["execution"] == {
        "fees": 30_000,
        "theoretical_pnl": 530_000,
        "fees_share_of_gross": 30_000 / 530_000,
    }
    for dimension in ("by_conviction", "by_direction", "by_regime", "by_session", "by_exit_reason"):
        assert sum(g["trades"] for g in result[dimension].values()) == 3, dimension
        assert sum(g["pnl"] for g in result[dimension].values()) == 500_000, dimension
    asia = result["by_session"]["ASIA"]
    assert (asia["trades"], asia["wins"], asia["win_rate"], asia["avg_hold_s"]) == (1, 1, 1.0, 360)
    assert result["by_session"]["LONDON"]["trades"] == 0
    assert result["by_regime"]["UNKNOWN"]["trades"] == 1  # no regime recorded
    assert result["by_conviction"]["HIGH"]["pnl"] == -1_000_000
    assert result["by_direction"]["SHORT"]["share_of_pnl"] == -2.0
    assert set(result["by_exit_reason"]) == {"STOP_LOSS", "TAKE_PROFIT"}


def test_no_trades_gives_empty_groups_and_no_fee_share():
    result = attribute([])
    assert result["trades"] == 0
    assert result["execution"]["fees_share_of_gross"] is None
    assert result["by_conviction"]["HIGH"]["win_rate"] == 0.0
