"""Which lane parameters each piece of per-second work that lanes share reads.

Lanes decide with their own parameters over one market (interfaces.md §5). Much of a
second's entry work depends on the market and on a few lane parameters only: the ROC
direction on the ROC thresholds, the shared verdict (guards, resolver, TFI, short trend,
price guard, the conviction's size multiplier) on the guard and sizing-label parameters.
The engine computes each once a second per distinct value of the parameters it reads
(``Lane.roc_key``, ``Lane.verdict_key``), so lanes that differ only in, say, their OBI
thresholds or their exits share it. A function of that work that starts reading another
lane parameter must add it here (``trading/tests/engine/test_shared_keys.py`` checks).
"""

from __future__ import annotations

from trading.engine.params import Params

# trading.engine.signals.roc.roc_direction
ROC_SIGNAL_PARAMS: tuple[str, ...] = (
    "roc_lookback",
    "roc_max_cap",
    "roc_min_cap",
    "roc_long_threshold",
    "roc_short_threshold",
    "roc_threshold_atr_mult",
    "roc_threshold_floor",
    "roc_threshold_cap",
    "roc_candle_confirm_min",
)

# trading.engine.entry.shared_verdict (with the signals it is given)
VERDICT_PARAMS: tuple[str, ...] = (
    "book_stale_s",
    "spot_stale_s",
    "min_seconds_to_expiry",
    "sd_enabled",
    "tfi_conviction_enabled",
    "tfi_disagree_threshold",
    "short_trend_lookback_candles",
    "short_trend_block_rise_pct",
    "short_trend_soften_rise_pct",
    "price_guard_expiry_s",
    "price_guard_late_s",
    "short_min_seconds_to_expiry",
    "long_min_entry_price_low",
    "long_min_entry_price_medium",
    "long_max_entry_price",
    "long_late_widen",
    "short_min_entry_price",
    "short_max_no_price_low",
    "short_max_no_price_medium",
    "conviction_mult_high",
    "conviction_mult_normal",
    "conviction_mult_low",
)


def share_key(params: Params, names: tuple[str, ...]) -> str:
    """The values of ``names`` as one string: equal keys mean equal values (``repr`` of an
    int, float, bool or str is exact), and a string caches its hash, so a lookup by it costs
    no more than one by an id."""
    return repr(tuple(getattr(params, name) for name in names))
