"""The live position manager's state machine and its restart rules (domain.md §3.17.1,
§3.17.8): pure, no exchange."""

from __future__ import annotations

import pytest

from trading.venues.live_position import (
    LivePosition,
    PositionManagerState,
    TransitionError,
    Unresolved,
)


def held(state: str = "OPEN") -> PositionManagerState:
    pm = PositionManagerState()
    pm.to("ENTERING")
    pm.position = LivePosition("KXBTC15M-X", "yes", 300)
    if state != "ENTERING":
        pm.to("OPEN")
    if state in ("EXITING", "PARTIAL_EXIT"):
        pm.to("EXITING")
    if state == "PARTIAL_EXIT":
        pm.to("PARTIAL_EXIT")
    return pm


def test_the_transitions_of_the_state_machine():
    pm = held("PARTIAL_EXIT")
    pm.to("EXITING")
    pm.to("FLAT")
    with pytest.raises(TransitionError):
        pm.to("OPEN")  # FLAT → OPEN skips the entry
    pm.desync("exchange shows 2.00")
    assert pm.state == "DESYNC"
    assert pm.entry_refusal("KXBTC15M-Y", 0, None).startswith("state DESYNC")


def test_reconciliation_resolves_a_desync_to_flat_or_open():
    pm = held()
    pm.desync("mismatch")
    pm.resolve_desync(exchange_signed=200, ticker="KXBTC15M-X")
    assert (pm.state, pm.position.count if pm.position else None) == ("OPEN", 200)
    pm.desync("again")
    pm.resolve_desync(exchange_signed=0, ticker=None)
    assert (pm.state, pm.position) == ("FLAT", None)


def test_entries_are_gated_by_state_orders_orphans_limit_and_cooldown():
    pm = PositionManagerState()
    assert pm.entry_refusal("T", 0, 5) == ""
    pm.round_trips = 5
    assert "trade limit" in pm.entry_refusal("T", 0, 5)
    assert pm.entry_refusal("T", 0, 0) == ""  # 0: unlimited
    pm.start_cooldown("T", 30_000)
    assert "cooldown" in pm.entry_refusal("T", 10_000, None)
    assert pm.entry_refusal("T", 30_000, None) == ""
    pm.adopt_orphan("U", 600, "EMERGENCY_STOP", 0)
    pm.adopt_orphan("U", 400, "EMERGENCY_STOP", 1)  # replaces, never adds (BUG-015)
    assert pm.orphans["U"].signed == 400
    assert "orphans" in pm.entry_refusal("T", 40_000, None)
    pm.orphans.clear()
    pm.unresolved = Unresolved("c-1", "c-1", "T", "entry", 0)
    assert "unresolved" in pm.entry_refusal("T", 40_000, None)


def test_restore_follows_the_restart_rules():
    assert PositionManagerState.from_dict(None).state == "FLAT"
    # not FLAT without a position → FLAT
    assert PositionManagerState.from_dict({"state": "OPEN", "position": None}).state == "FLAT"
    # FLAT with a position → the position is dropped (BUG-031)
    flat = held()
    flat.state = "FLAT"
    restored = PositionManagerState.from_dict(flat.to_dict())
    assert (restored.state, restored.position) == ("FLAT", None)
    # an order in flight when it stopped → OPEN, to be verified; unknown fields dropped
    data = held("EXITING").to_dict()
    data["position"]["from_the_future"] = 1
    data["also_new"] = True
    data["round_trips"] = 3
    data["unresolved"] = {
        "client_order_id": "c",
        "intent_client_order_id": "c",
        "ticker": "KXBTC15M-X",
        "purpose": "exit",
        "since_ts": 5,
    }
    restored = PositionManagerState.from_dict(data)
    assert restored.state == "OPEN"
    assert restored.position is not None
    assert restored.position.count == 300
    assert restored.round_trips == 3
    assert restored.unresolved is not None
    # the lane's own order in flight (written before it was sent): the state stays, for
    # the venue to look the order up at start (#23)
    data["state"] = "EXITING"
    data["unresolved"]["lane_order"] = True
    restored = PositionManagerState.from_dict(data)
    assert restored.state == "EXITING"
    assert restored.unresolved is not None
    assert restored.unresolved.lane_order
    # a desync survives a restart
    pm = held()
    pm.desync("mismatch")
    assert PositionManagerState.from_dict(pm.to_dict()).state == "DESYNC"
