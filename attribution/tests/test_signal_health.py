"""Signal health: a real rank IC on constructed samples, Sharpe, win rate and the alerts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from attribution.signal_health import health_alerts, signal_health, spearman


@dataclass(frozen=True)
class T:
    pnl_frac: float
    direction: str = "LONG"
    entry_obi: float | None = None
    entry_roc: float | None = None
    entry_yes_price: int = 5000
    exit_yes_price: int = 5000


def test_spearman_of_a_known_sample():
    # Ranks of y against x = 1..10 swap one neighbouring pair: Σd² = 2, so
    # rho = 1 − 6·2 / (10·(100 − 1)) = 1 − 12/990.
    xs = [float(i) for i in range(1, 11)]
    ys = [1, 2, 3, 4, 5, 6, 7, 9, 8, 10]
    assert spearman(xs, ys) == pytest.approx(1 - 12 / 990)
    # Monotonic but not linear: still exactly 1; reversed: −1.
    assert spearman(xs, [x**3 for x in xs]) == pytest.approx(1.0)
    assert spearman(xs, [-x for x in xs]) == pytest.approx(-1.0)


def test_spearman_needs_ten_pairs_and_variation():
    assert spearman([1.0] * 9, list(range(9))) is None
    assert spearman([1.0] * 10, list(range(10))) is None


def test_the_outcome_ic_ranks_the_signal_in_the_traded_direction():
    # Longs with OBI above 0.5 and shorts with OBI below it: the further the book leaned
    # the way we traded, the better the trade; a reversed pair makes it 1 − 12/990.
    strengths = [0.01 * i for i in range(1, 11)]
    outcomes = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.9, 0.8, 1.0]
    trades = []
    for i, (strength, outcome) in enumerate(zip(strengths, outcomes, strict=True)):
        short = i % 2 == 1
        trades.append(
            T(
                outcome,
                direction="SHORT" if short else "LONG",
                entry_obi=0.5 - strength if short else 0.5 + strength,
                entry_roc=-strength if short else strength,
            )
        )
    ic = signal_health(trades)["ic"]
    assert ic["obi"]["outcome"] == pytest.approx(1 - 12 / 990)
    assert ic["roc"]["outcome"] == pytest.approx(1 - 12 / 990)
    assert ic["obi"]["n"] == 10


def test_the_move_ic_ranks_the_raw_signal_against_the_yes_price_move():
    trades = [
        T(0.0, entry_obi=0.3 + 0.04 * i, entry_yes_price=5000, exit_yes_price=5000 + 100 * (9 - i))
        for i in range(10)
    ]
    assert signal_health(trades)["ic"]["obi"]["move"] == pytest.approx(-1.0)
    assert signal_health(trades)["ic"]["roc"] == {"n": 0, "outcome": None, "move": None}


def test_win_rate_and_sharpe():
    health = signal_health([T(0.1), T(-0.1), T(0.3)])
    assert health["win_rate"] == pytest.approx(2 / 3)
    # mean 0.1, sample stdev 0.2
    assert health["sharpe"] == pytest.approx(0.5)
    assert health["enough"] is False


def _health(win_rate, sharpe, ic_obi):
    return {
        "trades": 40,
        "enough": True,
        "win_rate": win_rate,
        "sharpe": sharpe,
        "ic": {
            "obi": {"n": 40, "outcome": ic_obi, "move": None},
            "roc": {"n": 0, "outcome": None, "move": None},
        },
    }


def test_the_alert_rules():
    baseline = _health(0.55, 0.40, 0.2)
    assert health_alerts(_health(0.55, 0.40, 0.2), baseline) == []
    assert health_alerts(_health(0.55, 0.40, 0.029), baseline) == ["OBI IC 0.029 < 0.03"]
    assert health_alerts(_health(0.49, 0.40, 0.2), baseline) == ["win rate 49.0% vs baseline 55.0%"]
    assert health_alerts(_health(0.51, 0.40, 0.2), baseline) == []  # 4 points: within
    assert health_alerts(_health(0.55, 0.27, 0.2), baseline) == ["Sharpe 0.27 vs baseline 0.40"]
    assert health_alerts(_health(0.55, 0.29, 0.2), baseline) == []  # 27.5 %: within
    negative = _health(0.55, -0.1, 0.2)
    assert health_alerts(_health(0.55, -0.9, 0.2), negative) == []  # no positive baseline


def test_no_verdict_below_twenty_trades():
    few = _health(0.1, -5.0, -0.5) | {"trades": 19, "enough": False}
    assert health_alerts(few, _health(0.6, 1.0, 0.3)) == []
