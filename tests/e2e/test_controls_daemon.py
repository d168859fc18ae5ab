"""Operator controls reach the running daemon within one simulated second.

The daemon runs on the stepped simulator (``SteppedDaemon``); each control goes through the
REST API as an operator with a bearer token (services underneath: one durable transaction,
an audit row, an announcement on commit). ``SteppedDaemon.control`` then advances the clock
by one simulated second and waits for the daemon's next control read, which is what a live
second gives it (the read runs on the announcement and at least once a second).

The moments the tests need (a position held, its own exit, the lane's next entry, a losing
exit) come from a quick uninterrupted run of the same stream (``reference_run``): the
daemon's own session, fed the simulator core's seconds directly, with no database. An
engine change that moves the entries moves the tests' moments with them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from knox.models import AuthToken
from rest_framework.test import APIClient

from trading.engine.params import DEFAULT_PARAMS
from trading.models import BotState, ControlAudit, OpenPosition, Trade, TradingControls
from trading.tests import factories

from .conftest import SEED, SteppedDaemon
from .reference_run import closes, elapsed_s, entries, uninterrupted_run

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HOLD_BEFORE_CONTROL_S = 5  # how long after its entry the position is held when a control acts
AFTER_REENTRY_S = 40  # the stretch runs this long past the unpaused run's next entry


@dataclass(frozen=True)
class HeldThenReentered:
    """Seconds after the start, in the uninterrupted run: a position is held at ``held_at``,
    exits by its own rule at ``exit_at``, and the lane enters again at ``reentry_at``."""

    held_at: int
    exit_at: int
    reentry_at: int

    @property
    def end(self) -> int:
        return self.reentry_at + AFTER_REENTRY_S


def held_then_reentered() -> HeldThenReentered:
    """The first position of the uninterrupted run that is still held a second after a
    control made ``HOLD_BEFORE_CONTROL_S`` into it (a control takes up to a second to
    apply) and is followed by another entry."""
    outputs = uninterrupted_run()
    closed = {c.position_uid: c for c in closes(outputs)}
    opened = entries(outputs)
    for position, following in itertools.pairwise(opened):
        held_at = elapsed_s(position.ts) + HOLD_BEFORE_CONTROL_S
        close = closed.get(position.position_uid)
        if close is not None and elapsed_s(close.ts) > held_at + 1:
            return HeldThenReentered(held_at, elapsed_s(close.ts), elapsed_s(following.ts))
    raise AssertionError(f"seed {SEED}: no held position followed by another entry")


def first_losing_exit_s() -> int:
    losses = [c for c in closes(uninterrupted_run()) if c.pnl < 0]
    assert losses, f"seed {SEED}: the uninterrupted run never loses"
    return elapsed_s(losses[0].ts)


@pytest.fixture
def api() -> Callable[..., Any]:
    """``api("post", url, body)`` as an operator with a bearer token (sync: run it in the
    ORM thread through ``SteppedDaemon.control``)."""
    user = factories.operator()
    _, token = AuthToken.objects.create(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def call(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        return getattr(client, method)(url, body or {}, format="json")

    return call


def within_a_second(before_ms: int, after_ms: int) -> bool:
    """At most one simulated second later, counted in the clock's whole seconds: events
    carry sub-second jitter, so 12.6 s is "the next second" after 11.3 s."""
    return after_ms // 1000 - before_ms // 1000 <= 1


def paper(sim: SteppedDaemon) -> Any:
    return sim.engine.lanes["paper"]


def forget_the_run() -> None:
    for model in (BotState, OpenPosition, Trade):
        model.objects.all().delete()


async def pause_stretch(
    api: Callable[..., Any], stretch: HeldThenReentered, *, paused: bool
) -> dict[str, Any]:
    """While a position is held, set the pause flag through the API; run past the
    uninterrupted run's next entry."""
    async with SteppedDaemon() as sim:
        await sim.step_to(stretch.held_at)
        held = paper(sim).position
        assert held is not None, "the stretch must start with an open position"
        mark = len(sim.outputs)
        at = sim.now
        response = await sim.control(lambda: api("post", "/api/trading-pause", {"paused": paused}))
        assert response.status_code == 200
        assert sim.engine.paused is paused
        assert within_a_second(at, sim.now)
        await sim.step_to(stretch.end)
        await sim.settle()
        assert sim.daemon.writer.failed == 0
        outputs = sim.outputs[mark:]
        return {"held_uid": held.uid, "entries": entries(outputs), "closes": closes(outputs)}


async def test_pause_stops_new_entries_on_the_lane_while_its_open_position_still_exits(api):
    stretch = held_then_reentered()
    unpaused = await pause_stretch(api, stretch, paused=False)
    # the daemon, with the API's "not paused", enters where the uninterrupted run does
    assert [elapsed_s(e.ts) for e in unpaused["entries"]] == [stretch.reentry_at]
    # a fresh start for the second run: the daemon would otherwise restore the first, and
    # the same positions' rows would collide with the first run's
    await sync_to_async(forget_the_run)()

    paused = await pause_stretch(api, stretch, paused=True)
    assert paused["entries"] == []
    # the held position exits when and as it does unpaused: by its own rule
    assert [(c.position_uid, elapsed_s(c.ts)) for c in paused["closes"]] == [
        (paused["held_uid"], stretch.exit_at)
    ]
    assert paused["closes"][0].reason != "EMERGENCY_STOP"


async def test_emergency_stop_pauses_and_flattens_the_lane_within_a_second(api):
    stretch = held_then_reentered()
    async with SteppedDaemon() as sim:
        await sim.step_to(stretch.held_at)
        held = paper(sim).position
        assert held is not None
        at, mark = sim.now, len(sim.outputs)

        response = await sim.control(lambda: api("post", "/api/emergency-stop"))
        assert response.status_code == 200
        closed = closes(sim.outputs[mark:])
        assert [(c.position_uid, c.reason) for c in closed] == [(held.uid, "EMERGENCY_STOP")]
        assert within_a_second(at, closed[0].ts)
        assert paper(sim).position is None
        assert sim.engine.paused

        await sim.settle()
        controls = await sync_to_async(TradingControls.objects.get)(pk=1)
        assert controls.paused
        assert controls.emergency_stop_handled_seq == controls.emergency_stop_seq == 1
        mark = len(sim.outputs)
        await sim.step_to(stretch.end)  # the uninterrupted run's next entry does not happen
        assert entries(sim.outputs[mark:]) == []


async def test_reset_drawdown_moves_the_running_lanes_peak_to_its_bankroll(api):
    async with SteppedDaemon() as sim:
        await sim.step_to(first_losing_exit_s() + 5)
        await sim.settle()  # the lane's saved state exists once its close is written
        breaker = paper(sim).breaker
        assert breaker.peak > breaker.bankroll

        response = await sim.control(lambda: api("post", "/api/reset-drawdown?mode=paper"))
        assert response.status_code == 200
        breaker = paper(sim).breaker
        assert breaker.peak == breaker.bankroll == breaker.daily_start == breaker.weekly_start
        assert sim.daemon.runtime["drawdown_reset_seq"] == {"paper": 1}


async def test_trade_limit_is_read_by_the_daemon_with_nothing_to_count_on_paper(api):
    async with SteppedDaemon() as sim:
        await sim.step_to(60)
        response = await sim.control(
            lambda: api("post", "/api/trade-limit", {"limit": 3, "reset": True})
        )
        assert response.status_code == 200
        assert sim.daemon.controls.live_trade_limit == 3
        assert sim.daemon.controls.live_trade_count_since_ms is not None
        assert tuple(sim.engine.lanes) == ("paper",)

        await sim.control(lambda: api("post", "/api/trade-limit", {"limit": None}))
        assert sim.daemon.controls.live_trade_limit is None


async def test_switching_to_live_is_refused_and_the_daemon_keeps_trading_paper(api):
    async with SteppedDaemon() as sim:
        await sim.step_to(60)
        version = sim.daemon.controls.version
        response = await sim.control(lambda: api("post", "/api/trading-mode", {"mode": "live"}))
        assert response.status_code == 409
        assert "live" in response.json()["detail"]
        assert sim.daemon.controls.trading_mode == "paper"
        assert sim.daemon.controls.version == version
        assert tuple(sim.engine.lanes) == ("paper",)
        audit = await sync_to_async(ControlAudit.objects.get)(action="trading_mode_set")
        assert audit.applied is False

        # and it keeps trading: its first three entries are the uninterrupted run's
        expected = [elapsed_s(e.ts) for e in entries(uninterrupted_run())][:3]
        assert len(expected) == 3, f"seed {SEED}: fewer than three entries"
        await sim.step_to(expected[-1] + 5)
        assert [elapsed_s(e.ts) for e in entries(sim.outputs)] == expected


async def test_a_parameter_override_applies_to_the_running_engine_and_clearing_restores_it(api):
    async with SteppedDaemon() as sim:
        await sim.step_to(60)
        lane = sim.engine.lanes["paper"]  # a lane parameter: the lane decides with it
        assert lane.params_hash == DEFAULT_PARAMS.params_hash()

        response = await sim.control(
            lambda: api("post", "/api/param-overrides/", {"name": "min_hold_s", "value": 90})
        )
        assert response.status_code == 200
        assert lane.params.min_hold_s == 90
        assert lane.params_hash == DEFAULT_PARAMS.with_overrides({"min_hold_s": 90}).params_hash()

        response = await sim.control(lambda: api("delete", "/api/param-overrides/min_hold_s/"))
        assert response.status_code == 200
        assert lane.params == DEFAULT_PARAMS
        assert lane.params_hash == DEFAULT_PARAMS.params_hash()
