"""What the daemon does with the session's outputs: database writes and dashboard payloads.

Pure mapping (no I/O here): records become ``Write`` items for the persistence writer and
plain-JSON payloads for the channel-layer topics of ``trading.push``.
"""

from __future__ import annotations

from typing import Any

from trading import push
from trading.engine.intents import ClosePosition
from trading.engine.records import (
    Decision,
    PositionClosed,
    PositionOpened,
    PositionUpdated,
)
from trading.runtime.writer import Write
from trading.services.trades import (
    decision_record,
    position_close,
    position_open,
    position_update,
)


def direction(engine_direction: str | None) -> str:
    return (engine_direction or "").lower()


def reasons_of(decision: Decision | None) -> dict[str, Any]:
    if decision is None:
        return {}
    return {"reason": decision.reason, "rules": [list(rule) for rule in decision.rules]}


def decision_write(decision: Decision, kind: str) -> Write:
    return Write(
        decision_record,
        {
            "lane": decision.lane,
            "ts_ms": decision.ts,
            "kind": kind,
            "ticker": decision.ticker or "",
            "direction": direction(decision.direction),
            "conviction": decision.conviction,
            "size_mult": decision.size_mult,
            "driver": decision.driver,
            "obi": decision.obi,
            "roc": decision.roc,
            "regime": decision.regime,
            "skip_reason": "" if decision.reason == "ENTRY" else decision.reason,
            "reasons": reasons_of(decision),
            "params_hash": decision.params_hash,
        },
        critical=kind == "entry",
    )


def exit_decision_write(intent: ClosePosition, params_hash: str) -> Write:
    return Write(
        decision_record,
        {
            "lane": intent.lane,
            "ts_ms": intent.ts,
            "kind": "exit",
            "ticker": intent.ticker,
            "direction": "long" if intent.side == "yes" else "short",
            "skip_reason": intent.reason,
            "reasons": {"reason": intent.reason, "position_uid": intent.position_uid},
            "params_hash": params_hash,
        },
        critical=True,
    )


def position_open_write(record: PositionOpened, decision: Decision | None) -> Write:
    return Write(
        position_open,
        {
            "lane": record.lane,
            "position_uid": record.position_uid,
            "ticker": record.ticker,
            "direction": direction(record.direction),
            "contracts": record.count,
            "entry_price": record.entry_yes_price,
            "opened_at_ms": record.ts,
            "cost": record.cost,
            "fees": record.fees,
            "conviction": record.conviction,
            "driver": record.driver,
            "regime": record.regime,
            "entry_obi": record.entry_obi,
            "entry_roc": record.entry_roc,
            "reasons": reasons_of(decision),
            "params_hash": record.params_hash,
            "entry_client_order_id": record.entry_client_order_id,
        },
        critical=True,
    )


def position_update_write(record: PositionUpdated) -> Write:
    return Write(
        position_update,
        {
            "position_uid": record.position_uid,
            "contracts": record.count,
            "cost": record.cost,
            "fees": record.fees,
        },
        critical=True,
    )


def position_close_write(record: PositionClosed, after: Any = None) -> Write:
    return Write(
        position_close,
        {
            "position_uid": record.position_uid,
            "exit_price": record.exit_yes_price,
            "closed_at_ms": record.ts,
            "entry_cost": record.cost,
            "contracts": record.count,
            "exit_proceeds": record.proceeds,
            "fees": record.fees,
            "pnl": record.pnl,
            "exit_reason": record.reason,
            "exit_client_order_id": record.exit_client_order_id,
            "fill_source": record.fill_source,
            "quarantined": bool(record.quarantine),
            "error_reason": record.quarantine,
        },
        critical=True,
        after=after,
    )


def trade_payload(record: PositionClosed) -> dict[str, Any]:
    return {
        "ts": record.ts,
        "lane": record.lane,
        "trade": {
            "position_uid": record.position_uid,
            "ticker": record.ticker,
            "direction": direction(record.direction),
            "contracts": record.count,
            "entry_price": record.entry_yes_price,
            "exit_price": record.exit_yes_price,
            "fees": record.fees,
            "pnl": record.pnl,
            "exit_reason": record.reason,
            "quarantined": bool(record.quarantine),
        },
    }


def signal_payload(decision: Decision, spread_state: str = "") -> dict[str, Any]:
    return push.signal_payload(
        ts=decision.ts,
        lane=decision.lane,
        ticker=decision.ticker,
        direction=direction(decision.direction),
        conviction=decision.conviction,
        size_mult=decision.size_mult,
        driver=decision.driver,
        obi=decision.obi,
        roc=decision.roc,
        regime=decision.regime,
        spread_state=spread_state,
        skip_reason="" if decision.reason == "ENTRY" else decision.reason,
        reasons=reasons_of(decision),
    )
