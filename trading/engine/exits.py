"""Exit rules for an open position (domain.md §3.12 with interfaces.md §5, §13 point 10).

Order of a pass: settlement-window guards (short settlement guard, expiry guard), then the
strategy exits behind the ``min_hold_s`` gate (OBI set, then ROC set; both apply to every
position), then a non-shadow health-score decay. ``CONTRACT_SETTLED`` is driven by the
contract's result event (``engine``), not by this module.

Stops and targets are judged on the **mark**: the mid of the position's own contract (long
the YES mid, short the NO mid = 1 − YES mid) as a fraction of the premium paid, compared
exactly in integers (``gain`` at the mark against ``cost``). Judged on the executable price
instead, the spread alone (wider than the 2 % stop on most books) stopped nearly every
position out at ``min_hold_s``. Exits still execute at the executable price. With one side
of the book empty there is no mark, so no stop or target in that pass.

The candle exits read spot candles of ``exit_candle_s`` that opened at or after the entry
(the candles of the hold): a 15-minute contract never sees a 15-minute candle close while
it is held, so 15-minute candles could only repeat what the entry already knew.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from marketdata.model.candles import Candle
from marketdata.model.frozen import fast_init
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
    # VOLATILITY_SPIKE: an exit candle's range, % of its open, above the HIGH regime's
    # ATR % scaled from 15 minutes to ``exit_candle_s`` by √time (a random walk's range).
    spike_range_pct: float

    @classmethod
    def of(cls, params: Params) -> ExitThresholds:
        stop = exact(params.stop_loss_frac)
        short_stop = stop * exact(params.short_stop_loss_mult)
        mult = exact(params.profit_target_mult)
        spike = params.atr_high_threshold * math.sqrt(params.exit_candle_s / 900)
        return cls(stop, stop * mult, short_stop, short_stop * mult, spike)


@fast_init
@dataclass(frozen=True, slots=True)
class ExitInputs:
    direction: Direction
    held_ms: int
    regime: Regime
    # The gain at the mark and the premium paid for the open count, in one unit (the watch
    # passes both doubled, so a mid between two price units is exact); None: no mark.
    gain: int | None
    cost: int
    obi: float | None  # smoothed
    hold_candles: Sequence[Candle]  # completed exit candles opened at/after the entry
    current_roc: float | None  # ROC(roc_lookback) of the exit candles now
    entry_roc: float | None  # the same when the entry filled


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
    executable price (the price the exit would get). interfaces.md §5 moved stops and
    targets to the mark but left these guards unchanged.
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


def strategy_exits_open(held_ms: int, regime: Regime, params: Params) -> bool:
    """Whether the strategy exits may speak yet: not before ``min_hold_s`` (BUG-013: give
    a fresh position time to move) unless the regime is HIGH. A caller may skip building
    the inputs while they may not."""
    return held_ms >= params.min_hold_s * 1000 or regime == "HIGH"


def strategy_exit(inputs: ExitInputs, thresholds: ExitThresholds, params: Params) -> str:
    if not strategy_exits_open(inputs.held_ms, inputs.regime, params):
        return ""
    return _obi_exit(inputs, thresholds, params) or _roc_exit(inputs, params)


def _obi_exit(inputs: ExitInputs, thresholds: ExitThresholds, params: Params) -> str:
    gain, cost, long = inputs.gain, inputs.cost, inputs.direction == "LONG"
    if gain is not None:
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
    if any(_range_pct(c) > thresholds.spike_range_pct for c in inputs.hold_candles):
        return "VOLATILITY_SPIKE"
    if inputs.held_ms >= params.obi_max_hold_s * 1000:
        return "TIME_EXIT"
    return ""


def _roc_exit(inputs: ExitInputs, params: Params) -> str:
    candle = inputs.hold_candles[-1] if inputs.hold_candles else None
    gain = inputs.gain
    if candle is not None and gain is not None and gain > 0 and candle.open > 0:
        body_pct = abs(candle.close - candle.open) / candle.open * 100
        if body_pct >= params.roc_blowoff_candle_pct:
            return "BLOWOFF_TAKE_PROFIT"
    early = _early_allowed(inputs, params)
    entry, current = inputs.entry_roc, inputs.current_roc
    stalled = (
        # Only once the ROC has moved past the entry: as many candles of the hold as its
        # look-back (3 by default, issue #16's "at least 3 exit candles of the hold").
        len(inputs.hold_candles) >= params.roc_lookback
        and entry
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


def _range_pct(candle: Candle) -> float:
    return (candle.high - candle.low) / candle.open * 100 if candle.open > 0 else 0.0


def _early_allowed(inputs: ExitInputs, params: Params) -> bool:
    """Decay-style exits before ``early_exit_min_hold_s`` need a loss on the mark."""
    if inputs.held_ms >= params.early_exit_min_hold_s * 1000:
        return True
    return inputs.gain is not None and inputs.gain < 0
