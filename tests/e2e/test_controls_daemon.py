"""Operator controls reach the running daemon within one simulated second.

The daemon runs on the stepped simulator (``SteppedDaemon``); each control goes through the
REST API as an operator with a bearer token (services underneath: one durable transaction,
an audit row, an announcement on commit). ``SteppedDaemon.control`` then advances the clock
by one simulated second and waits for the daemon's next control read, which is what a live
second gives it (the read runs on the announcement and at least once a second).

Seed 7 from 2026-01-01 00:00 (``tests/e2e/conftest.py``): the paper lane enters at 1860 s,
stops out at 1981 s and enters again at 2060 s, so the stretch 1865-2100 s holds an exit of
a position opened before it and an entry of a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from knox.models import AuthToken
from rest_framework.test import APIClient

from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import PositionClosed, PositionOpened
from trading.models import BotState, ControlAudit, TradingControls
from trading.runtime.session import SessionOutput
from trading.tests import factories

from .conftest import SteppedDaemon

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HELD_AT = 1865  # the position opened at 1860 s is held; it stops out at 1981 s
STRETCH_END = 2100  # unpaused, the lane enters again at 2060 s
ONE_SECOND_MS = 1000


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


def entries(outputs: list[SessionOutput]) -> list[PositionOpened]:
    return [o for o in outputs if isinstance(o, PositionOpened)]


def closes(outputs: list[SessionOutput]) -> list[PositionClosed]:
    return [o for o in outputs if isinstance(o, PositionClosed)]


def paper(sim: SteppedDaemon) -> Any:
    return sim.engine.lanes["paper"]


async def pause_stretch(api: Callable[..., Any], *, paused: bool) -> dict[str, Any]:
    """Hold the 1860 s position at 1865 s, set the pause flag through the API, run to 2100 s."""
    async with SteppedDaemon() as sim:
        await sim.step_to(HELD_AT)
        held = paper(sim).position
        assert held is not None, "the stretch must start with an open position"
        mark = len(sim.outputs)
        at = sim.now
        response = await sim.control(
            lambda: api("post", "/api/controls/trading-pause/", {"paused": paused})
        )
        assert response.status_code == 200
        assert sim.engine.paused is paused
        assert sim.now - at <= ONE_SECOND_MS
        await sim.step_to(STRETCH_END)
        stretch = sim.outputs[mark:]
        return {"held_uid": held.uid, "entries": entries(stretch), "closes": closes(stretch)}


async def test_pause_stops_new_entries_on_the_lane_while_its_open_position_still_exits(api):
    unpaused = await pause_stretch(api, paused=False)
    assert len(unpaused["entries"]) >= 1, "the same stretch unpaused must enter"
    # a fresh start for the second run (the daemon would otherwise restore the first)
    await sync_to_async(lambda: BotState.objects.all().delete())()

    paused = await pause_stretch(api, paused=True)
    assert paused["entries"] == []
    assert [c.position_uid for c in paused["closes"]] == [paused["held_uid"]]
    assert paused["closes"][0].reason != "EMERGENCY_STOP"  # its own exit rule closed it


async def test_emergency_stop_pauses_and_flattens_the_lane_within_a_second(api):
    async with SteppedDaemon() as sim:
        await sim.step_to(HELD_AT)
        held = paper(sim).position
        assert held is not None
        at, mark = sim.now, len(sim.outputs)

        response = await sim.control(lambda: api("post", "/api/controls/emergency-stop/"))
        assert response.status_code == 200
        closed = closes(sim.outputs[mark:])
        assert [(c.position_uid, c.reason) for c in closed] == [(held.uid, "EMERGENCY_STOP")]
        assert closed[0].ts - at <= ONE_SECOND_MS
        assert paper(sim).position is None
        assert sim.engine.paused

        await sim.settle()
        controls = await sync_to_async(TradingControls.objects.get)(pk=1)
        assert controls.paused
        assert controls.emergency_stop_handled_seq == controls.emergency_stop_seq == 1
        mark = len(sim.outputs)
        await sim.step_to(STRETCH_END)  # the 2060 s entry does not happen
        assert entries(sim.outputs[mark:]) == []


async def test_reset_drawdown_moves_the_running_lanes_peak_to_its_bankroll(api):
    async with SteppedDaemon() as sim:
        await sim.step_to(1990)  # two stop-losses behind: 1160 s and 1981 s
        await sim.settle()  # the lane's saved state exists once its close is written
        breaker = paper(sim).breaker
        assert breaker.peak > breaker.bankroll

        response = await sim.control(
            lambda: api("post", "/api/controls/reset-drawdown/", {"lane": "paper"})
        )
        assert response.status_code == 200
        breaker = paper(sim).breaker
        assert breaker.peak == breaker.bankroll == breaker.daily_start == breaker.weekly_start
        assert sim.daemon.runtime["drawdown_reset_seq"] == {"paper": 1}


async def test_trade_limit_is_read_by_the_daemon_with_nothing_to_count_on_paper(api):
    async with SteppedDaemon() as sim:
        await sim.step_to(60)
        response = await sim.control(
            lambda: api("post", "/api/controls/trade-limit/", {"limit": 3, "reset": True})
        )
        assert response.status_code == 200
        assert sim.daemon.controls.live_trade_limit == 3
        assert sim.daemon.controls.live_trade_count_since_ms is not None
        assert tuple(sim.engine.lanes) == ("paper",)

        await sim.control(lambda: api("post", "/api/controls/trade-limit/", {"limit": None}))
        assert sim.daemon.controls.live_trade_limit is None


async def test_switching_to_live_is_refused_and_the_daemon_keeps_trading_paper(api):
    async with SteppedDaemon() as sim:
        await sim.step_to(60)
        version = sim.daemon.controls.version
        response = await sim.control(
            lambda: api("post", "/api/controls/trading-mode/", {"mode": "live"})
        )
        assert response.status_code == 409
        assert "live" in response.json()["detail"]
        assert sim.daemon.controls.trading_mode == "paper"
        assert sim.daemon.controls.version == version
        assert tuple(sim.engine.lanes) == ("paper",)
        audit = await sync_to_async(ControlAudit.objects.get)(action="trading_mode_set")
        assert audit.applied is False

        await sim.step_to(2100)  # and it keeps trading
        assert len(entries(sim.outputs)) >= 3


async def test_a_parameter_override_applies_to_the_running_engine_and_clearing_restores_it(api):
    async with SteppedDaemon() as sim:
        await sim.step_to(60)
        engine = sim.engine
        assert engine.params_hash == DEFAULT_PARAMS.params_hash()

        response = await sim.control(
            lambda: api("post", "/api/param-overrides/", {"name": "min_hold_s", "value": 90})
        )
        assert response.status_code == 200
        assert engine.params.min_hold_s == 90
        assert engine.params_hash == DEFAULT_PARAMS.with_overrides({"min_hold_s": 90}).params_hash()

        response = await sim.control(lambda: api("delete", "/api/param-overrides/min_hold_s/"))
        assert response.status_code == 200
        assert engine.params == DEFAULT_PARAMS
        assert engine.params_hash == DEFAULT_PARAMS.params_hash()
