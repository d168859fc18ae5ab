"""One look at an open position: mark it, score its health, and pick an exit reason.

Marks use the position's own contract (its book, its close time, its result); a rotation
of the active contract changes nothing here (BUG-012, §11.1). The **mark** is that book's
mid (long: YES mid, short: NO mid = 1 − YES mid): stops, targets, the health score's PnL,
MFE and MAE are judged on it (interfaces.md §5); with either side of the book empty there
is none. The executable exit price is the best YES bid for a long and the best YES ask for
a short, in YES space for both (the original compared a NO price with a YES entry for
shorts, §11.1): the settlement-window guards judge on it, and with that side empty nothing
can be sold, so no exit is chosen (BUG-034).
"""

from __future__ import annotations

from trading.engine.exits import (
    ExitInputs,
    settlement_window_exit,
    strategy_exit,
    strategy_exits_open,
)
from trading.engine.health import HealthInputs, health_score
from trading.engine.intents import Intent
from trading.engine.lane import Lane, Position
from trading.engine.market import MarketState
from trading.engine.params import Params
from trading.engine.records import PositionUpdated, Record


def watch_position(
    market: MarketState,
    now: int,
    lane: Lane,
    position: Position,
    out: list[Intent | Record],
    *,
    per_second: bool,
) -> str:
    params = lane.params
    book = market.books.get(position.ticker)
    bid, ask = (None, None) if book is None else (book.best_yes_bid, book.best_yes_ask)
    price = bid if position.long else ask  # executable: what the exit would sell into
    # The mark, both doubled: twice the gain at the mid against twice the premium paid.
    mark_gain = None
    if bid is not None and ask is not None and position.count > 0 and position.cost > 0:
        mark_gain = position.gain_at_mid(bid, ask)
    pnl = None if mark_gain is None else mark_gain / (2 * position.cost)
    if pnl is not None:
        position.track(pnl)
    own_obi = market.obi.smoothed if market.obi.ticker == position.ticker else None
    if per_second and params.exit_intelligence_enabled:
        _score(market, now, params, position, own_obi, pnl)
    if (
        per_second
        and now - position.last_telemetry_ts >= params.position_telemetry_interval_s * 1000
    ):
        position.last_telemetry_ts = now
        out.append(
            PositionUpdated(
                now,
                lane.name,
                position.uid,
                "telemetry",
                position.count,
                price,
                pnl,
                position.mfe,
                position.mae,
                position.last_health,
                position.cost,
                position.fees,
            )
        )
    if price is None:
        return ""
    if position.exit_reason:
        return position.exit_reason  # a retry keeps the original reason (lesson 6)
    reason = settlement_window_exit(
        direction=position.direction,
        remaining_ms=market.remaining_ms(position.ticker, now),
        underwater=position.gain_at(price) < 0,
        params=params,
    )
    if reason:
        return reason
    held_ms, regime = now - position.opened_ts, market.regime.regime
    if strategy_exits_open(held_ms, regime, params):
        inputs = ExitInputs(
            direction=position.direction,
            held_ms=held_ms,
            regime=regime,
            gain=mark_gain,
            cost=2 * position.cost,
            obi=own_obi,
            hold_candles=market.exit_candles_since(position.opened_ts),
            current_roc=market.exit_roc(),
            entry_roc=position.entry_exit_roc,
        )
        reason = strategy_exit(inputs, lane.thresholds, params)
        if reason:
            return reason
    if (
        params.exit_intelligence_enabled
        and not params.exit_intelligence_shadow_only
        and position.breaches >= params.health_score_breach_readings
    ):
        return "HEALTH_SCORE_DECAY"
    return ""


def _score(
    market: MarketState,
    now: int,
    params: Params,
    position: Position,
    obi: float | None,
    pnl: float | None,
) -> None:
    entry_regime = position.regime if position.regime in ("LOW", "MEDIUM", "HIGH") else None
    score = health_score(
        HealthInputs(
            direction=position.direction,
            obi=obi,
            entry_roc=position.entry_roc,
            current_roc=market.current_roc,
            regime=market.regime.regime,
            entry_regime=entry_regime,  # type: ignore[arg-type]
            mfe=position.mfe,
            pnl=pnl,
            spot_roc_30s=market.spot_roc(now, 30),
            spot_roc_60s=market.spot_roc(now, 60),
        ),
        params,
    )
    position.last_health = score
    position.min_health = score if position.min_health is None else min(position.min_health, score)
    if score < params.health_score_threshold:
        position.breaches += 1
    else:
        position.breaches = 0
