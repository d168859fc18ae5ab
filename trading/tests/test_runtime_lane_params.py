"""How the daemon applies overrides to each lane: defaults ← global ← the lane's own, each
lane's set to that lane only, market parameters at the next start."""

from __future__ import annotations

from typing import Any

from trading import selectors
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import LaneStatus
from trading.runtime.daemon import Daemon, DaemonConfig
from trading.runtime.factory import build_daemon
from trading.runtime.session import new_session, paper_venues
from trading.runtime.sinks import Observer

START = 1_767_225_600_000
LANES = ("paper", "live")


def daemon(statuses: list[str]) -> Daemon:
    def observe(event: Any, produced: Any) -> None:
        statuses.extend(out.lane for out in produced if isinstance(out, LaneStatus))

    config = DaemonConfig(lanes=LANES)
    trader = build_daemon(
        config, feeds=[], candles=lambda before: [], start_ts=START, sinks=[Observer(observe)]
    )
    trader.session = new_session(
        DEFAULT_PARAMS, lanes=LANES, bankroll=1_000_000_000, venues=paper_venues(200)
    )
    # as ``prepare`` leaves it: every lane on the parameters the session started with
    trader.lane_params_hash = {lane: DEFAULT_PARAMS.params_hash() for lane in LANES}
    return trader


def controls(
    version: int, lane_overrides: dict[str, dict[str, Any]] | None = None, **overrides: Any
) -> selectors.ControlsSnapshot:
    return selectors.ControlsSnapshot(
        version=version, overrides=overrides, lane_overrides=lane_overrides or {}
    )


def params(trader: Daemon, lane: str) -> Any:
    assert trader.session is not None
    return trader.session.engine.lanes[lane].params


def test_a_lane_override_changes_only_that_lane_and_a_global_one_every_lane() -> None:
    statuses: list[str] = []
    trader = daemon(statuses)
    trader._apply_controls(controls(1, {"live": {"min_hold_s": 200}}))
    assert (params(trader, "paper").min_hold_s, params(trader, "live").min_hold_s) == (120, 200)
    assert statuses == ["live"]  # the paper lane's parameters did not change: no new status

    statuses.clear()
    trader._apply_controls(controls(2, {"live": {"min_hold_s": 200}}, reentry_cooldown_s=60))
    assert params(trader, "paper").reentry_cooldown_s == params(trader, "live").reentry_cooldown_s
    assert params(trader, "paper").reentry_cooldown_s == 60
    assert sorted(statuses) == ["live", "paper"]

    # the lane's own wins over a global override of the same parameter
    trader._apply_controls(controls(3, {"live": {"min_hold_s": 200}}, min_hold_s=90))
    assert (params(trader, "paper").min_hold_s, params(trader, "live").min_hold_s) == (90, 200)
    assert trader.params_error == ""

    # clearing the lane's own: the global value again
    trader._apply_controls(controls(4, min_hold_s=90))
    assert params(trader, "live").min_hold_s == 90
    assert params(trader, "live") == params(trader, "paper")


def test_a_lane_whose_own_overrides_no_longer_fit_keeps_its_parameters_and_says_why() -> None:
    trader = daemon([])
    trader._apply_controls(controls(1, {"live": {"min_hold_s": 200}}))
    # rows edited behind the services' back: a market parameter set for one lane
    trader._apply_controls(
        controls(2, {"live": {"min_hold_s": 300, "obi_history_len": 5}}, min_hold_s=90)
    )
    assert params(trader, "live").min_hold_s == 200  # unchanged
    assert params(trader, "paper").min_hold_s == 90  # the other lane still gets its set
    assert "lane live" in trader.params_error
    assert "obi_history_len" in trader.health_payload()["params_error"]


def test_a_global_market_override_waits_for_the_next_start_on_every_lane() -> None:
    trader = daemon([])
    trader._apply_controls(controls(1, {"paper": {"min_hold_s": 60}}, obi_history_len=5))
    assert params(trader, "paper").obi_history_len == DEFAULT_PARAMS.obi_history_len
    assert params(trader, "live").obi_history_len == DEFAULT_PARAMS.obi_history_len
    assert params(trader, "paper").min_hold_s == 60
    assert trader.health_payload()["params_pending_restart"] == ["obi_history_len"]
