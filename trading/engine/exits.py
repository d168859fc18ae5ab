"""Exit rules for an open position (domain.md §3.12 with interfaces.md §5, §13).

Order of a pass: settlement-window guards (short settlement guard, expiry guard), then the
strategy exits behind the ``min_hold_s`` gate (OBI set, then ROC set; both apply to every
position), then a non-shadow health-score decay. ``CONTRACT_SETTLED`` is driven by the
contract's result event (``engine``), not by this module.

Profit and loss is the fraction of the premium paid (long: YES price, short: NO price)
measured on the executable exit price (long: best YES bid, short: best YES ask), compared
exactly in integers: ``gain`` = exit premium × count − cost, both in micro-dollars.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from marketdata.model.candles import Candle
from trading.engine.frozen import fast_init
from trading.engine.params import Params
from trading.engine.regime import Regime
from trading.engine.signals import Direction
from trading.engine.sizing import exact


@fast_init
@dataclass(frozen=True, slots=True)
class ExitThresholds:
    """Stops and targets as exact fractions, computed once per parameter set."""

    long_stop: Fraction
    long_target: Fraction
    short_stop: Fraction
    short_target: Fraction

    @classmethod
    def of(cls, params: Params) -> ExitThresholds:
        stop = exact(params.stop_loss_frac)
        short_stop = stop * exact(params.short_stop_loss_mult)
        mult = exact(params.profit_target_mult)
        return cls(stop, stop * mult, short_stop, short_stop * mult)


@fast_init
@dataclass(frozen=True, slots=True)
class ExitInputs:
    direction: Direction
    held_ms: int
    regime: Regime
    gain: int | None  # micro-dollars at the executable exit price; None: that side is empty
    cost: int  # micro-dollars paid for the open count
    obi: float | None  # smoothed
    last_candle: Candle | None
    current_roc: float | None
    entry_roc: float | None


def _at_most(gain: int, cost: int, frac: Fraction) -> bool:
    """gain / cost ≤ −frac, exactly."""
    return gain * frac.denominator <= -frac.numerator * cost


def _at_least(gain: int, cost: int, frac: Fraction) -> bool:
    """gain / cost ≥ frac, exactly."""
    return gain * frac.denominator >= frac.numerator * cost


def settlement_window_exit(
    *,
    direction: Direction,
    remaining_ms: int | None,
    underwater: bool,
    params: Params,
) -> str:
    """Guards run first in every pass (the caller skips them while the exit side of the
    book is empty, BUG-034: never invent a fill).

    ``underwater`` for a short means the executable YES price (best ask) is above the YES
    entry price: both in YES space (the original compared a NO price, §11.1).

    Reading (ambiguity): domain.md §3.12.1 has the live lane judge "underwater" on the mark
    (mid) and paper on the executable price; the engine is one for both lanes and uses the
    executable price (the price the exit would get, as interfaces.md §5 does for stops).
    """
    if (
        direction == "SHORT"
        and remaining_ms is not None
        and params.short_settlement_guard_min_s * 1000
        <= remaining_ms
        < params.short_settlement_guard_s * 1000
        and underwater
    ):
        return "SHORT_SETTLEMENT_GUARD"
    if remaining_ms is None or remaining_ms < params.expiry_guard_trigger_s * 1000:
        return "EXPIRY_GUARD"
    return ""


def strategy_exit(inputs: ExitInputs, thresholds: ExitThresholds, params: Params) -> str:
    if inputs.gain is None:
        return ""
    if inputs.held_ms < params.min_hold_s * 1000 and inputs.regime != "HIGH":
        return ""  # BUG-013: the spread alone would stop a fresh position out
    return _obi_exit(inputs, thresholds, params) or _roc_exit(inputs, params)


def _obi_exit(inputs: ExitInputs, thresholds: ExitThresholds, params: Params) -> str:
    assert inputs.gain is not None
    gain, cost, long = inputs.gain, inputs.cost, inputs.direction == "LONG"
    stop = thresholds.long_stop if long else thresholds.short_stop
    target = thresholds.long_target if long else thresholds.short_target
    if _at_most(gain, cost, stop):
        return "STOP_LOSS"
    if _at_least(gain, cost, target):
        return "TAKE_PROFIT"
    obi = inputs.obi
    if (
        obi is not None
        and _early_allowed(inputs, params)
        and (
            (long and obi < params.obi_neutral_exit_long)
            or (not long and obi > params.obi_neutral_exit_short)
        )
    ):
        return "SIGNAL_DECAY"
    if inputs.regime == "HIGH":
        return "VOLATILITY_SPIKE"
    if inputs.held_ms >= params.obi_max_hold_s * 1000:
        return "TIME_EXIT"
    return ""


def _roc_exit(inputs: ExitInputs, params: Params) -> str:
    assert inputs.gain is not None
    # Reading (ambiguity): domain.md §3.12 reads "the latest completed candle", as here. In
    # the original a position had held two candle closes before these rules ran, so that
    # candle always closed during the hold; with ``min_hold_s`` (§13.2) and 15-minute
    # windows that coincide with the 15-minute candles, it is the candle that closed
    # before the entry. Kept literal; listed as an open question in docs/engine.md.
    candle = inputs.last_candle
    if candle is not None and inputs.gain > 0 and candle.open > 0:
        body_pct = abs(candle.close - candle.open) / candle.open * 100
        if body_pct >= params.roc_blowoff_candle_pct:
            return "BLOWOFF_TAKE_PROFIT"
    early = _early_allowed(inputs, params)
    entry, current = inputs.entry_roc, inputs.current_roc
    stalled = (
        entry
        and current is not None
        and abs(current) < params.roc_momentum_stall_ratio * abs(entry)
    )
    if early and stalled:
        return "MOMENTUM_STALL"
    if early and candle is not None:
        against = candle.close < candle.open
        if inputs.direction == "SHORT":
            against = candle.close > candle.open
        if against:
            return "CANDLE_REVERSAL"
    if inputs.held_ms >= params.roc_max_hold_s * 1000:
        return "TIME_EXIT"
    return ""


def _early_allowed(inputs: ExitInputs, params: Params) -> bool:
    assert inputs.gain is not None
    return inputs.held_ms >= params.early_exit_min_hold_s * 1000 or inputs.gain < 0
