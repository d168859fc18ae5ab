"""The live controls (interfaces.md §8, domain.md §3.17.10) once the live lane exists (its
state row), each audited."""

from __future__ import annotations

import pytest

from trading import selectors
from trading.models import ControlAudit, LivePositionState, TradingControls
from trading.runtime.live import LiveControls
from trading.services import controls

pytestmark = pytest.mark.django_db

ROBOT = controls.Actor(label="tester", source="api")


def live_lane(state: str = "FLAT") -> None:
    data = {"state": state, "position": {"ticker": "KXBTC15M-X", "side": "yes", "count": 300}}
    LivePositionState.objects.update_or_create(
        lane="live", defaults={"state": state, "data": data if state != "FLAT" else {}}
    )


def last_audit() -> ControlAudit:
    return ControlAudit.objects.order_by("-id").first()  # type: ignore[return-value]


def test_switching_to_live_needs_the_confirmation():
    live_lane()
    with pytest.raises(controls.ControlRefused, match="confirm"):
        controls.trading_mode_set(mode="live", actor=ROBOT)
    assert (last_audit().applied, last_audit().action) == (False, "trading_mode_set")
    controls.trading_mode_set(mode="live", confirm=True, actor=ROBOT)
    assert selectors.controls_current().trading_mode == "live"
    assert last_audit().applied is True


def test_switching_to_live_is_refused_while_a_pause_settles_a_live_position():
    live_lane("OPEN")
    controls.trading_pause_set(paused=True, actor=ROBOT)
    assert selectors.live_status(paused=True)["pause"] == "settling"
    with pytest.raises(controls.ControlRefused, match="settling"):
        controls.trading_mode_set(mode="live", confirm=True, actor=ROBOT)
    live_lane("FLAT")
    assert selectors.live_status(paused=True)["pause"] == "paused"
    controls.trading_mode_set(mode="live", confirm=True, actor=ROBOT)


def test_switching_to_paper_is_refused_with_a_live_position_open_and_unpauses():
    live_lane()
    controls.trading_mode_set(mode="live", confirm=True, actor=ROBOT)
    live_lane("OPEN")
    with pytest.raises(controls.ControlRefused, match="live position is open"):
        controls.trading_mode_set(mode="paper", actor=ROBOT)
    live_lane("FLAT")
    controls.trading_pause_set(paused=True, actor=ROBOT)
    controls.trading_mode_set(mode="paper", actor=ROBOT)
    current = selectors.controls_current()
    assert (current.trading_mode, current.paused) == ("paper", False)


def test_close_all_pauses_and_asks_the_trader_once():
    live_lane()
    state = controls.close_all_exchange_positions(actor=ROBOT)
    assert (state.paused, state.close_all_seq) == (True, 1)
    assert last_audit().action == "close_all_exchange_positions"
    current = selectors.controls_current()
    assert (current.close_all_seq, current.close_all_handled_seq) == (1, 0)


class FakeSession:
    """What ``LiveControls.apply`` drives (the daemon passes the real session)."""

    def __init__(self) -> None:
        self.paused_lanes: frozenset[str] | None = None
        self.closed: list[tuple[str, str | None]] = []

    def set_lanes_paused(self, lanes: frozenset[str]) -> None:
        self.paused_lanes = lanes

    def close_all(self, reason: str, lane: str | None = None) -> list[object]:
        self.closed.append((reason, lane))
        return []


class VenueRecorder:
    def __init__(self) -> None:
        from trading.venues.live_position import PositionManagerState

        self.state = PositionManagerState(round_trips=4)
        self.trade_limit = lambda: None
        self.close_requests: list[frozenset[str]] = []

    def close_exchange_positions(self, *, exclude: frozenset[str] = frozenset()) -> None:
        self.close_requests.append(exclude)


def test_the_daemon_side_applies_mode_limit_count_and_close_all():
    venue = VenueRecorder()
    live = LiveControls(venue)  # type: ignore[arg-type]
    session = FakeSession()
    snap = selectors.ControlsSnapshot(live_trade_limit=5, live_trade_count_since_ms=1000)
    live.apply(snap, session)
    assert session.paused_lanes == frozenset({"live"})  # paper mode: no live entries
    assert venue.trade_limit() == 5
    assert venue.state.round_trips == 4  # the first read restarts nothing
    snap = selectors.ControlsSnapshot(
        trading_mode="live", live_trade_limit=5, live_trade_count_since_ms=2000, close_all_seq=1
    )
    live.apply(snap, session)
    assert session.paused_lanes == frozenset()
    assert venue.state.round_trips == 0  # the count restarted (resume under a limit)
    assert session.closed == [("CLOSE_ALL", "live")]
    assert venue.close_requests == [frozenset()]
    live.apply(snap, session)
    assert len(venue.close_requests) == 1  # once per request
    assert TradingControls.objects.count() == 0
