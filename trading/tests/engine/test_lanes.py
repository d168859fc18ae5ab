"""Many lanes, each with its own lane parameters, over one pass of the market: each trades
exactly as it would alone (the tuner's premise), and a lane's kind, not its name, makes it
live."""

from __future__ import annotations

from typing import Any

import pytest

from marketdata.sim.prices import history_candles
from marketdata.sim.stream import generate_events, history_for
from trading.engine.engine import Engine
from trading.engine.lane import LaneSpec
from trading.engine.params import DEFAULT_PARAMS, ParamError
from trading.engine.records import Decision, PositionClosed, trade_list_hash
from trading.runtime.session import new_session, paper_venues

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC: seed 7 trades in the first hours
SEED = 7
MINUTES = 180

LANE_SETS: dict[str, dict[str, Any]] = {
    "base": {},
    "patient": {"min_hold_s": 300},
    "strict_obi": {"obi_long_threshold": 0.75, "obi_short_threshold": 0.25},
    "loose_obi": {"obi_long_threshold": 0.58, "obi_short_threshold": 0.42},
    "wide_stop": {"stop_loss_frac": 0.10},
    "quick_roc": {"roc_max_hold_s": 120, "obi_max_hold_s": 180},
    "small": {"risk_per_trade_frac": 0.005},
    "no_cooldown": {"reentry_cooldown_s": 0, "min_seconds_to_expiry": 300},
}


def run(lanes, *, decisions=True):
    history = history_for(SEED, START, MINUTES)
    session = new_session(
        DEFAULT_PARAMS,
        lanes=lanes,
        bankroll=1_000_000_000,
        venues=paper_venues(200),
        warmup=history_candles(history, START, count=60),
        market_snapshots=False,
    )
    return session.feed_all(generate_events(SEED, START, MINUTES, history))


def spec(name, kind="research", decisions=True):
    return LaneSpec(name, kind, DEFAULT_PARAMS.with_overrides(LANE_SETS[name]), decisions)


def lane_trades(outputs, lane):
    return [o for o in outputs if isinstance(o, PositionClosed) and o.lane == lane]


@pytest.mark.slow
def test_eight_lanes_with_their_own_parameters_trade_as_each_would_alone():
    together = run([spec(name) for name in LANE_SETS])
    hashes = set()
    for name in LANE_SETS:
        alone = run([spec(name)])
        mine = lane_trades(together, name)
        assert trade_list_hash(mine) == trade_list_hash(lane_trades(alone, name)), name
        hashes.add(trade_list_hash(mine))
    assert len(hashes) > 4, "the parameter sets should trade differently"
    assert sum(len(lane_trades(together, name)) for name in LANE_SETS) > 8


@pytest.mark.slow
def test_lanes_without_decision_records_trade_together_as_with_them():
    """Quiet lanes skip the work whose only product is the decision record (a verdict
    that blocks every lane): each trades as with its records (so as alone, above)."""
    loud = run([spec(name) for name in LANE_SETS])
    quiet = run([spec(name, decisions=False) for name in LANE_SETS])
    for name in LANE_SETS:
        assert trade_list_hash(lane_trades(quiet, name)) == trade_list_hash(
            lane_trades(loud, name)
        ), name
    assert sum(len(lane_trades(quiet, name)) for name in LANE_SETS) > 8


def test_a_research_lane_without_decision_records_trades_the_same():
    quiet = run([spec("base", decisions=False)])
    loud = run([spec("base")])
    assert trade_list_hash(quiet) == trade_list_hash(loud)
    assert [d.reason for d in quiet if isinstance(d, Decision)] == ["ENTRY"] * len(
        [d for d in loud if isinstance(d, Decision) and d.reason == "ENTRY"]
    )


def test_the_kind_not_the_name_makes_a_lane_live():
    engine = Engine(DEFAULT_PARAMS, [LaneSpec("alpha", "live"), LaneSpec("live", "paper")])
    assert (engine.lanes["alpha"].live, engine.lanes["live"].live) == (True, False)
    restored = Engine.restore(DEFAULT_PARAMS, engine.snapshot())
    assert (restored.lanes["alpha"].kind, restored.lanes["live"].kind) == ("live", "paper")
    with pytest.raises(ValueError, match="kind"):
        Engine(DEFAULT_PARAMS, [LaneSpec("x", "casino")])  # type: ignore[arg-type]


def test_a_lane_cannot_bring_market_parameters_of_its_own():
    odd = DEFAULT_PARAMS.with_overrides({"obi_history_len": 5})
    with pytest.raises(ParamError, match=r"obi_history_len.*next start"):
        Engine(DEFAULT_PARAMS, [LaneSpec("odd", "research", odd)])
