"""The engine's parameter set (interfaces.md §5): one frozen, validated value.

Names are the original's settings in snake_case (domain.md §10), with units in the name
where they are not obvious. Prices are YES-space price units ($0.0001: 2000 = 20 ¢); every
holding rule is in seconds (domain.md §13 point 2). Overrides go through
``Params.with_overrides``, which checks types and bounds and raises ``ParamError`` naming
the parameter.

Seconds defaults and why (a 15-minute contract never lives two 15-minute candles, so the
original's candle counts are re-expressed inside one 900 s window):

| parameter | default | reason |
| --- | --- | --- |
| ``min_hold_s`` | 120 | "2 candles before strategy exits" (BUG-013): the spread alone |
| | | marks a fresh position ~2 % down; give the price time to move |
| ``early_exit_min_hold_s`` | 120 | ``MIN_CANDLES_BEFORE_EARLY_EXIT = 2`` (decay, stall, reversal) |
| ``obi_max_hold_s`` | 540 | OBI ``TIME_EXIT`` at 3 candles: at most 60 % of a window |
| ``roc_max_hold_s`` | 360 | ROC ``TIME_EXIT`` at 2 candles: 40 % of a window |
| ``reentry_cooldown_s`` | 30 | "100 ticks after an exit" (~30 s at the original's tick rate) |
| ``min_seconds_to_expiry`` | 120 | ``MIN_SECONDS_TO_EXPIRY`` (near-expiry entry skip) |
| ``price_guard_expiry_s`` | 180 | hard-coded price-guard ``EXPIRY_TOO_CLOSE`` |
| ``price_guard_late_s`` | 300 | hard-coded late-contract widening of long bounds |
| ``short_min_seconds_to_expiry`` | 780 | ``SHORT_MIN_SECONDS_TO_EXPIRY``: shorts early only |
| ``short_settlement_guard_s`` | 300 | ``SHORT_SETTLEMENT_GUARD_SEC`` (upper edge, exclusive) |
| ``short_settlement_guard_min_s`` | 60 | lower edge of that guard (inclusive) |
| ``expiry_guard_trigger_s`` | 180 | ``EXPIRY_GUARD_TRIGGER_SEC`` (BUG-032: exit early enough) |
| ``obi_smooth_window_s`` | 5 | ``OBI_SMOOTH_WINDOW_SEC`` (median; adaptive ×1.5 / ×0.75) |
| ``obi_stdev_window_s`` | 60 | window of the OBI stdev that adapts the median window |
| ``sd_staleness_s`` | 90 | ``SD_STALENESS_SEC``: older spread history is dropped |
| ``book_stale_s``, ``spot_stale_s`` | 60 | book-health limits on the last Kalshi / spot data |
| ``tfi_window_s`` | 900 | ``TFI_WINDOW_MINUTES = 15`` |
| ``rapid_fire_window_s`` | 60 | rapid-fire quarantine (3rd live exit within 60 s) |
| ``position_telemetry_interval_s`` | 15 | ``POSITION_TELEMETRY_INTERVAL_SEC`` |
| ``order_timeout_s`` | 10 | [NEW] an order with no terminal report is cancelled |

``obi_history_len`` (20) and ``spread_history_len`` (180, baseline the last
``sd_baseline_window`` = 60) count readings taken once per second of event time.

Market and lane parameters (interfaces.md §5). ``MARKET_PARAMS`` shape market state and
are shared by every lane of an engine: the series, the spot candles (``candle_interval_s``:
the 15-minute candles of ATR, ROC and the entry signals; ``exit_candle_s``, default 180:
five spot candles per contract, read only by the candle exits) and the ATR regime built on
them, the OBI readings and their smoothing windows, the spread history and its
classification, the ROC look-back and the trade-flow window. Every other parameter is a
lane parameter: it decides (signal thresholds, guards, sizing, breaker, exits, the ML
gate's use) and may differ between the lanes of one engine. A market parameter changes
only with a new engine (the daemon's next start); a lane parameter at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class ParamError(ValueError):
    """An override is unknown, of the wrong type or outside its bounds."""


def _p(default: Any, low: float | None = None, high: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"min": low, "max": high, "doc": doc})


@dataclass(frozen=True, slots=True)
class Params:
    # --- market / candles ----------------------------------------------------------------
    series_ticker: str = _p("KXBTC15M", doc="series whose contracts are traded")
    candle_interval_s: int = _p(900, 60, 3600, "[market] spot candle length for ATR/ROC")
    exit_candle_s: int = _p(180, 60, 900, "[market] spot candle length of the candle exits")
    # --- ATR regime (domain §3.3) --------------------------------------------------------
    atr_period: int = _p(14, 2, 100, "true ranges in the simple-mean ATR")
    atr_smooth_period: int = _p(3, 1, 20, "ATR% values averaged for the regime class")
    atr_low_threshold: float = _p(0.15, 0.0, 5.0, "smoothed ATR% below this is LOW")
    atr_high_threshold: float = _p(0.50, 0.0, 10.0, "smoothed ATR% above this is HIGH")
    atr_regime_confirm_bars: int = _p(2, 1, 10, "agreeing raw classes needed to switch")
    # --- OBI (domain §2.5, §3.4) ---------------------------------------------------------
    obi_depth_levels: int = _p(10, 1, 50, "book levels per side in the OBI")
    obi_long_threshold: float = _p(0.65, 0.5, 1.0, "smoothed OBI at or above → LONG")
    obi_short_threshold: float = _p(0.35, 0.0, 0.5, "smoothed OBI at or below → SHORT")
    obi_consecutive_readings: int = _p(3, 1, 20, "last readings that must all agree")
    obi_smooth_window_s: float = _p(5.0, 1.0, 60.0, "base median window")
    obi_smooth_min_samples: int = _p(3, 1, 20, "fewer raw samples in the window → raw value")
    obi_stdev_window_s: int = _p(60, 5, 600, "window of the stdev that adapts the median")
    obi_history_len: int = _p(20, 1, 600, "smoothed readings kept (one per second)")
    min_book_volume_contracts: int = _p(1000, 0, 10_000_000, "top-N volume needed for OBI")
    obi_neutral_exit_long: float = _p(0.55, 0.0, 1.0, "long SIGNAL_DECAY below this OBI")
    obi_neutral_exit_short: float = _p(0.45, 0.0, 1.0, "short SIGNAL_DECAY above this OBI")
    obi_max_hold_s: int = _p(540, 1, 3600, "OBI TIME_EXIT")
    # --- ROC (domain §3.5) ---------------------------------------------------------------
    roc_lookback: int = _p(3, 1, 20, "candles in the entry ROC")
    roc_long_threshold: float = _p(0.4, 0.0, 10.0, "static long threshold (no ATR yet)")
    roc_short_threshold: float = _p(-0.4, -10.0, 0.0, "static short threshold (no ATR yet)")
    roc_max_cap: float = _p(2.5, 0.0, 50.0, "ROC above this is a blow-off: ignored")
    roc_min_cap: float = _p(-2.5, -50.0, 0.0, "ROC below this is a blow-off: ignored")
    roc_candle_confirm_min: int = _p(2, 0, 3, "of the last 3 candles in the direction")
    roc_threshold_atr_mult: float = _p(1.2, 0.0, 10.0, "adaptive threshold = ATR% × this")
    roc_threshold_floor: float = _p(0.10, 0.0, 10.0, "adaptive threshold floor")
    roc_threshold_cap: float = _p(1.0, 0.0, 10.0, "adaptive threshold cap")
    roc_momentum_stall_ratio: float = _p(0.5, 0.0, 1.0, "MOMENTUM_STALL below this × entry")
    roc_blowoff_candle_pct: float = _p(1.5, 0.0, 50.0, "BLOWOFF_TAKE_PROFIT candle body %")
    roc_max_hold_s: int = _p(360, 1, 3600, "ROC TIME_EXIT")
    roc_low_conviction_paper_enabled: bool = _p(False, doc="trade LOW conviction on paper")
    roc_low_conviction_live_enabled: bool = _p(False, doc="trade LOW conviction on live")
    # --- spread divergence (domain §3.6) -------------------------------------------------
    sd_enabled: bool = _p(True, doc="spread divergence modifies conviction")
    spread_history_len: int = _p(180, 1, 3600, "spread readings kept (one per second)")
    sd_baseline_window: int = _p(60, 1, 3600, "readings in the median baseline")
    sd_wide_threshold: float = _p(0.40, 0.0, 10.0, "z at or above → WIDE")
    sd_tight_threshold: float = _p(-0.20, -1.0, 0.0, "z at or below → TIGHT")
    sd_min_history: int = _p(20, 1, 3600, "readings needed before the filter speaks")
    sd_staleness_s: int = _p(90, 1, 3600, "history dropped after this long without a reading")
    # --- trade-flow imbalance (domain §3.8) ----------------------------------------------
    tfi_conviction_enabled: bool = _p(True, doc="TFI disagreement downgrades conviction")
    tfi_disagree_threshold: float = _p(0.1, 0.0, 0.5, "distance from 0.5 that disagrees")
    tfi_window_s: int = _p(900, 10, 86_400, "public-trade window of the TFI")
    # --- sizing (domain §3.13, §13 point 3) ----------------------------------------------
    risk_per_trade_frac: float = _p(0.02, 0.0, 0.5, "bankroll share per trade")
    min_risk_frac: float = _p(0.005, 0.0, 0.5, "floor of the risk amount")
    max_risk_frac: float = _p(0.03, 0.0, 0.5, "cap of the risk amount")
    conviction_mult_high: float = _p(1.3, 0.0, 5.0, "size multiplier for HIGH")
    conviction_mult_normal: float = _p(1.0, 0.0, 5.0, "size multiplier for NORMAL")
    conviction_mult_low: float = _p(0.65, 0.0, 5.0, "size multiplier for LOW")
    short_size_mult: float = _p(0.7, 0.0, 5.0, "shorts are sized smaller")
    drawdown_reduction_threshold: float = _p(0.10, 0.0, 1.0, "drawdown above which size shrinks")
    drawdown_reduction_mult: float = _p(0.5, 0.0, 1.0, "size multiplier in drawdown")
    max_live_contracts: int = _p(50, 1, 100_000, "whole-contract cap, live lane")
    max_paper_contracts: int = _p(10_000, 1, 1_000_000, "whole-contract cap, paper lanes")
    live_entry_slippage: int = _p(0, 0, 1000, "live entry limit beyond the touch, price units")
    # --- circuit breaker (domain §3.14, §13 point 6) -------------------------------------
    daily_loss_limit: float = _p(0.06, 0.0, 1.0, "loss vs the 00:00 UTC bankroll that trips")
    weekly_loss_limit: float = _p(0.15, 0.0, 1.0, "loss vs the Monday bankroll that trips")
    max_drawdown: float = _p(0.20, 0.0, 1.0, "drawdown from peak that trips until reset")
    paper_breaker_halts: bool = _p(False, doc="paper trips halt entries (off: collect data)")
    # --- stops and targets (interfaces §5) -----------------------------------------------
    stop_loss_frac: float = _p(0.02, 0.0, 1.0, "stop as a fraction of the premium paid")
    short_stop_loss_mult: float = _p(1.5, 0.0, 10.0, "short stop = stop × this")
    profit_target_mult: float = _p(1.5, 0.0, 20.0, "target = stop × this")
    # --- short trend guard (domain §3.9.1) -----------------------------------------------
    short_trend_lookback_candles: int = _p(4, 2, 20, "closes spanned by the rise")
    short_trend_soften_rise_pct: float = _p(0.20, 0.0, 10.0, "rise % that softens a short")
    short_trend_block_rise_pct: float = _p(0.35, 0.0, 10.0, "rise % that blocks a short")
    # --- price guard (domain §3.11), price units -----------------------------------------
    long_min_entry_price_low: int = _p(2000, 0, 10_000, "long floor in LOW regime")
    long_min_entry_price_medium: int = _p(1500, 0, 10_000, "long floor in MEDIUM regime")
    long_max_entry_price: int = _p(6000, 0, 10_000, "long cap")
    long_late_widen: int = _p(500, 0, 5000, "late-contract widening of long bounds")
    short_min_entry_price: int = _p(2500, 0, 10_000, "short floor on the YES bid")
    short_max_no_price_low: int = _p(8000, 0, 10_000, "NO price cap in LOW regime")
    short_max_no_price_medium: int = _p(8500, 0, 10_000, "NO price cap in MEDIUM regime")
    # --- time rules, seconds (see the table above) ---------------------------------------
    min_hold_s: int = _p(120, 0, 3600, "no strategy exit before (unless regime HIGH)")
    early_exit_min_hold_s: int = _p(120, 0, 3600, "signal-decay style exits before need a loss")
    reentry_cooldown_s: int = _p(30, 0, 3600, "no entry this long after an exit")
    min_seconds_to_expiry: int = _p(120, 0, 3600, "near-expiry entry skip")
    price_guard_expiry_s: int = _p(180, 0, 3600, "EXPIRY_TOO_CLOSE")
    price_guard_late_s: int = _p(300, 0, 3600, "late-contract long widening")
    short_min_seconds_to_expiry: int = _p(780, 0, 3600, "shorts only with this much left")
    short_settlement_guard_s: int = _p(300, 0, 3600, "underwater short exit window, upper")
    short_settlement_guard_min_s: int = _p(60, 0, 3600, "underwater short exit window, lower")
    expiry_guard_trigger_s: int = _p(180, 0, 3600, "EXPIRY_GUARD exit")
    book_stale_s: int = _p(60, 1, 3600, "book unhealthy after this long without Kalshi data")
    spot_stale_s: int = _p(60, 1, 3600, "book unhealthy after this long without spot data")
    order_timeout_s: int = _p(10, 1, 3600, "cancel an order with no terminal report")
    # --- exit intelligence (domain §3.12.2) ----------------------------------------------
    exit_intelligence_enabled: bool = _p(True, doc="compute the health score")
    exit_intelligence_shadow_only: bool = _p(True, doc="record the score, never exit on it")
    health_score_threshold: float = _p(35.0, 0.0, 100.0, "score below this is a breach")
    health_score_breach_readings: int = _p(3, 1, 100, "consecutive breaches that exit")
    health_weight_obi: float = _p(0.30, -1.0, 1.0, "weight (negative counts as 0)")
    health_weight_roc: float = _p(0.20, -1.0, 1.0, "weight (negative counts as 0)")
    health_weight_regime: float = _p(0.15, -1.0, 1.0, "weight (negative counts as 0)")
    health_weight_mfe: float = _p(0.20, -1.0, 1.0, "weight (negative counts as 0)")
    health_weight_momentum: float = _p(0.15, -1.0, 1.0, "weight (negative counts as 0)")
    position_telemetry_interval_s: int = _p(15, 1, 3600, "PositionUpdated record cadence")
    # --- quarantine (domain §3.18) -------------------------------------------------------
    rapid_fire_exits: int = _p(3, 2, 100, "this many live exits in the window quarantine")
    rapid_fire_window_s: int = _p(60, 1, 3600, "rapid-fire window")
    # --- live edge profile (domain §3.10): live entries only, off by default -------------
    edge_live_profile_enabled: bool = _p(False, doc="filter live entries by the edge profile")
    edge_live_long_only: bool = _p(False, doc="edge profile: no live shorts")
    edge_live_short_min_price: int = _p(4000, 0, 10_000, "edge: short below HIGH needs this YES")
    edge_live_short_block_negative_roc_threshold: float = _p(
        -0.05, -10.0, 10.0, "edge: NORMAL short vetoed at ROC <= this (>= 0: off)"
    )
    edge_live_block_low_conviction: bool = _p(True, doc="edge profile: no LOW live entries")
    edge_live_allowed_drivers: str = _p("OBI,OBI+ROC,ROC", doc="edge: drivers allowed, exact")
    edge_live_blocked_hours_utc: str = _p("none", doc="edge: UTC hours blocked, e.g. 0,1,2")
    edge_live_max_entry_price: int = _p(2500, 0, 10_000, "edge: long YES price cap")
    edge_live_agreement_overrides_price_cap: bool = _p(True, doc="edge: OBI+ROC lifts the cap")
    # --- ML entry gate (domain §7.4, §13.5) ----------------------------------------------
    ml_gate_mode: str = _p("off", doc="off, shadow (record p_win only) or gate")
    ml_conviction_up_p: float = _p(0.70, 0.0, 1.0, "gate: p_win raising conviction one step")

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            _check_field(spec, getattr(self, spec.name))
        _check_relations(self)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Params:
        """A new parameter set with ``overrides`` applied; raises ``ParamError``."""
        known = {spec.name: spec for spec in dataclasses.fields(self)}
        values: dict[str, Any] = {}
        for name, value in overrides.items():
            spec = known.get(name)
            if spec is None:
                raise ParamError(f"{name}: unknown parameter")
            values[name] = _coerce(spec, value)
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        return {spec.name: getattr(self, spec.name) for spec in dataclasses.fields(self)}

    def params_hash(self) -> str:
        """sha256 of the canonical JSON of every value (recorded on trades and signals)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _type_name(spec: dataclasses.Field[Any]) -> str:
    return str(spec.type)


def _coerce(spec: dataclasses.Field[Any], value: Any) -> Any:
    kind = _type_name(spec)
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _check_field(spec: dataclasses.Field[Any], value: Any) -> None:
    kind = _type_name(spec)
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, float),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str) and bool(value),
    }[kind]
    if not ok:
        raise ParamError(f"{spec.name}: must be {kind}, got {value!r}")
    low, high = spec.metadata["min"], spec.metadata["max"]
    if low is not None and not low <= value <= high:
        raise ParamError(f"{spec.name}: must be between {low} and {high}, got {value}")


ML_GATE_MODES = ("off", "shadow", "gate")  # trading.engine.mlgate's, kept here: no cycle


def _check_relations(p: Params) -> None:
    hours = p.edge_live_blocked_hours_utc.strip().lower()
    if hours != "none":
        parts = [part.strip() for part in hours.split(",")]
        if not all(part.isdigit() and 0 <= int(part) <= 23 for part in parts):
            raise ParamError(
                "edge_live_blocked_hours_utc: must be none or comma-separated hours 0-23,"
                f" got {p.edge_live_blocked_hours_utc!r}"
            )
    if p.ml_gate_mode not in ML_GATE_MODES:
        raise ParamError(
            f"ml_gate_mode: must be one of {', '.join(ML_GATE_MODES)}, got {p.ml_gate_mode!r}"
        )
    pairs = (
        ("atr_low_threshold", "atr_high_threshold"),
        ("obi_short_threshold", "obi_long_threshold"),
        ("min_risk_frac", "max_risk_frac"),
        ("roc_threshold_floor", "roc_threshold_cap"),
        ("short_trend_soften_rise_pct", "short_trend_block_rise_pct"),
        ("sd_baseline_window", "spread_history_len"),
        ("short_settlement_guard_min_s", "short_settlement_guard_s"),
    )
    for low, high in pairs:
        if getattr(p, low) > getattr(p, high):
            raise ParamError(
                f"{low}: must not exceed {high} ({getattr(p, low)} > {getattr(p, high)})"
            )


MARKET_PARAMS: frozenset[str] = frozenset(
    {
        "series_ticker",
        "candle_interval_s",
        "exit_candle_s",
        "atr_period",
        "atr_smooth_period",
        "atr_low_threshold",
        "atr_high_threshold",
        "atr_regime_confirm_bars",
        "obi_depth_levels",
        "obi_smooth_window_s",
        "obi_smooth_min_samples",
        "obi_stdev_window_s",
        "obi_history_len",
        "roc_lookback",
        "sd_enabled",
        "spread_history_len",
        "sd_baseline_window",
        "sd_wide_threshold",
        "sd_tight_threshold",
        "sd_min_history",
        "sd_staleness_s",
        "tfi_window_s",
    }
)


def market_differences(a: Params, b: Params) -> list[str]:
    """The market parameters on which ``a`` and ``b`` differ (sorted)."""
    return sorted(name for name in MARKET_PARAMS if getattr(a, name) != getattr(b, name))


def with_market_of(lane: Params, market: Params) -> Params:
    """``lane``'s lane parameters over ``market``'s market parameters."""
    return dataclasses.replace(lane, **{name: getattr(market, name) for name in MARKET_PARAMS})


def params_schema() -> list[dict[str, Any]]:
    """Name, type, default, bounds and meaning of every parameter (for the API and admin)."""
    return [
        {
            "name": spec.name,
            "type": _type_name(spec),
            "default": spec.default,
            "min": spec.metadata["min"],
            "max": spec.metadata["max"],
            "doc": spec.metadata["doc"],
            "scope": "market" if spec.name in MARKET_PARAMS else "lane",
        }
        for spec in dataclasses.fields(Params)
    ]


PARAMS_SCHEMA: list[dict[str, Any]] = params_schema()
DEFAULT_PARAMS = Params()
