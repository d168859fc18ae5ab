"""Signal resolver, spread modifier and trade-flow downgrade (domain.md §3.7, §3.8).

OBI × ROC coordination table:

| OBI \\ ROC | LONG | SHORT | NEUTRAL |
| --- | --- | --- | --- |
| LONG | LONG, HIGH | NONE (SIGNAL_CONFLICT) | LONG, NORMAL |
| SHORT | NONE (SIGNAL_CONFLICT) | SHORT, HIGH | SHORT, NORMAL |
| NEUTRAL | LONG, LOW | SHORT, LOW | NONE (NO_SIGNAL) |

Spread (MEDIUM regime only): WIDE downgrades one step (reaching NONE →
``SPREAD_WIDE_DOWNGRADE``); TIGHT upgrades one step capped at NORMAL (HIGH stays HIGH,
NONE is never upgraded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from marketdata.model.frozen import fast_init
from trading.engine.params import Params
from trading.engine.regime import Regime
from trading.engine.signals import Direction
from trading.engine.signals.spread import SpreadState

Conviction = Literal["HIGH", "NORMAL", "LOW", "NONE"]
LADDER: tuple[Conviction, ...] = ("NONE", "LOW", "NORMAL", "HIGH")
SIZE_MULT_LABEL = {"HIGH": 1.30, "NORMAL": 1.00, "LOW": 0.65, "NONE": 0.0}


def downgrade(conviction: Conviction) -> Conviction:
    return LADDER[max(0, LADDER.index(conviction) - 1)]


def upgrade_to_normal(conviction: Conviction) -> Conviction:
    return "NORMAL" if conviction == "LOW" else conviction


@fast_init
@dataclass(frozen=True, slots=True)
class Resolution:
    direction: Direction | None
    conviction: Conviction
    reason: str  # "" when tradeable
    driver: str


_TABLE: dict[
    tuple[Direction | None, Direction | None], tuple[Direction | None, Conviction, str]
] = {
    ("LONG", "LONG"): ("LONG", "HIGH", ""),
    ("LONG", "SHORT"): (None, "NONE", "SIGNAL_CONFLICT"),
    ("LONG", None): ("LONG", "NORMAL", ""),
    ("SHORT", "LONG"): (None, "NONE", "SIGNAL_CONFLICT"),
    ("SHORT", "SHORT"): ("SHORT", "HIGH", ""),
    ("SHORT", None): ("SHORT", "NORMAL", ""),
    (None, "LONG"): ("LONG", "LOW", ""),
    (None, "SHORT"): ("SHORT", "LOW", ""),
    (None, None): (None, "NONE", "NO_SIGNAL"),
}


def driver_label(obi: Direction | None, roc: Direction | None) -> str:
    if obi and roc:
        return "OBI+ROC" if obi == roc else "OBI/ROC"
    if obi:
        return "OBI"
    return "ROC" if roc else "-"


def resolve(
    obi: Direction | None,
    roc: Direction | None,
    *,
    spread: SpreadState,
    regime: Regime,
    breaker_halted: bool,
    params: Params,
) -> Resolution:
    driver = driver_label(obi, roc)
    if breaker_halted:
        return Resolution(None, "NONE", "CIRCUIT_BREAKER_ACTIVE", driver)
    if regime == "HIGH":
        return Resolution(None, "NONE", "ATR_REGIME_HIGH", driver)
    direction, conviction, reason = _TABLE[(obi, roc)]
    if params.sd_enabled and regime == "MEDIUM" and conviction != "NONE" and spread != "NORMAL":
        driver = f"{driver}/{spread}"
        if spread == "WIDE":
            conviction = downgrade(conviction)
            if conviction == "NONE":
                return Resolution(None, "NONE", "SPREAD_WIDE_DOWNGRADE", driver)
        else:
            conviction = upgrade_to_normal(conviction)
    return Resolution(direction, conviction, reason, driver)


def apply_tfi(
    resolution: Resolution, obi: Direction | None, tfi: float | None, params: Params
) -> Resolution:
    """Downgrade one step when public trade flow disagrees with the book imbalance."""
    if not params.tfi_conviction_enabled or resolution.conviction == "NONE":
        return resolution
    if obi is None or tfi is None:
        return resolution
    threshold = params.tfi_disagree_threshold
    disagrees = (obi == "LONG" and tfi < 0.5 - threshold) or (
        obi == "SHORT" and tfi > 0.5 + threshold
    )
    if not disagrees:
        return resolution
    conviction = downgrade(resolution.conviction)
    if conviction == "NONE":
        return Resolution(None, "NONE", "TFI_DISAGREE", resolution.driver)
    return Resolution(resolution.direction, conviction, resolution.reason, resolution.driver)
