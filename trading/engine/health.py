"""Exit-intelligence health score of an open position (domain.md §3.12.2).

Score 0–100 = 100 × the weighted mean of five components in [0, 1]. In shadow mode (the
default) it is computed and recorded but never exits; otherwise
``health_score_breach_readings`` consecutive per-second readings below the threshold exit
with ``HEALTH_SCORE_DECAY``.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketdata.model.frozen import fast_init
from trading.engine.params import Params
from trading.engine.regime import Regime
from trading.engine.signals import Direction

UNKNOWN = 0.5


@fast_init
@dataclass(frozen=True, slots=True)
class HealthInputs:
    direction: Direction
    obi: float | None
    entry_roc: float | None
    current_roc: float | None
    regime: Regime | None
    entry_regime: Regime | None
    mfe: float | None
    pnl: float | None
    spot_roc_30s: float | None
    spot_roc_60s: float | None


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def obi_alignment(direction: Direction, obi: float | None) -> float:
    if obi is None:
        return UNKNOWN
    lean = obi - 0.5 if direction == "LONG" else 0.5 - obi
    return _clamp(lean / 0.25)


def roc_alignment(direction: Direction, entry_roc: float | None, current: float | None) -> float:
    if current is None:
        return UNKNOWN
    entry = entry_roc or 0.0
    reference = (1.0 if entry > 0 else -1.0) if entry else (1.0 if direction == "LONG" else -1.0)
    if current == 0:
        return 0.4
    if (current > 0) != (reference > 0):
        return 0.0
    ratio = abs(current) / max(abs(entry), 0.01)
    if ratio >= 1:
        return 1.0
    if ratio >= 0.6:
        return 0.75
    return 0.5 if ratio >= 0.3 else 0.35


def regime_stability(regime: Regime | None, entry_regime: Regime | None) -> float:
    if regime is None:
        return UNKNOWN
    if regime == "HIGH":
        return 0.0
    if regime == entry_regime:
        return 1.0
    return 0.75 if regime == "MEDIUM" else 0.65


def mfe_retention(mfe: float | None, pnl: float | None) -> float:
    if mfe is None or pnl is None:
        return UNKNOWN
    if mfe <= 0:
        return 0.25 if pnl < 0 else 0.6
    kept = 1 - _clamp(max(mfe - pnl, 0.0) / mfe)
    return kept / 2 if pnl < 0 else kept


def momentum_decay(direction: Direction, fast: float | None, slow: float | None) -> float:
    if fast is None and slow is None:
        return UNKNOWN
    if fast is None:
        fast = slow
    if slow is None:
        slow = fast
    assert fast is not None
    assert slow is not None
    if direction == "SHORT":
        fast, slow = -fast, -slow
    if fast <= 0 and slow <= 0:
        return 0.0
    if fast > 0 >= slow:
        return 0.65
    if fast <= 0 < slow:
        return 0.2
    ratio = fast / slow
    if ratio >= 1:
        return 1.0
    if ratio >= 0.7:
        return 0.75
    return 0.45 if ratio >= 0.4 else 0.2


def health_score(inputs: HealthInputs, params: Params) -> float:
    direction = inputs.direction
    # Negative weights count as 0; the sums run in this order, left to right, as ``sum``
    # over the five (weight, value) pairs did.
    w_obi = max(params.health_weight_obi, 0.0)
    w_roc = max(params.health_weight_roc, 0.0)
    w_regime = max(params.health_weight_regime, 0.0)
    w_mfe = max(params.health_weight_mfe, 0.0)
    w_momentum = max(params.health_weight_momentum, 0.0)
    total = w_obi + w_roc + w_regime + w_mfe + w_momentum
    if total <= 0:
        return 100 * UNKNOWN
    score = (
        w_obi * obi_alignment(direction, inputs.obi)
        + w_roc * roc_alignment(direction, inputs.entry_roc, inputs.current_roc)
        + w_regime * regime_stability(inputs.regime, inputs.entry_regime)
        + w_mfe * mfe_retention(inputs.mfe, inputs.pnl)
        + w_momentum * momentum_decay(direction, inputs.spot_roc_30s, inputs.spot_roc_60s)
    )
    return 100 * score / total
