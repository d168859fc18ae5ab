"""Engine records as the engine emits them, with defaults a test overrides."""

from __future__ import annotations

import datetime as dt
from typing import Any

from trading.engine.records import (
    BreakerChanged,
    CandleClosed,
    Decision,
    PositionClosed,
    PositionOpened,
    RegimeChanged,
)

T0 = int(dt.datetime(2026, 9, 21, 13, 30, tzinfo=dt.UTC).timestamp() * 1000)
TICKER = "KXBTC15M-26SEP210945-45"


def opened(**fields: Any) -> PositionOpened:
    values: dict[str, Any] = {
        "ts": T0,
        "lane": "paper",
        "position_uid": "paper-0001",
        "ticker": TICKER,
        "direction": "LONG",
        "count": 1000,
        "entry_yes_price": 4200,
        "cost": 4_200_000,
        "fees": 180_000,
        "driver": "OBI+ROC",
        "conviction": "HIGH",
        "entry_obi": 0.712,
        "entry_roc": 0.45,
        "regime": "MEDIUM",
        "params_hash": "p1",
        "entry_client_order_id": "kbtc-paper-1",
    }
    return PositionOpened(**{**values, **fields})


def closed(**fields: Any) -> PositionClosed:
    values: dict[str, Any] = {
        "ts": T0 + 312_000,
        "lane": "paper",
        "position_uid": "paper-0001",
        "ticker": TICKER,
        "direction": "LONG",
        "opened_ts": T0,
        "count": 1000,
        "entry_yes_price": 4200,
        "exit_yes_price": 4650,
        "cost": 4_200_000,
        "proceeds": 4_650_000,
        "fees": 350_000,
        "pnl": 100_000,
        "pnl_frac": 0.0238,
        "reason": "TAKE_PROFIT",
        "fill_source": "paper_taker",
        "mfe": 0.05,
        "mae": -0.01,
        "min_health_score": None,
        "driver": "OBI+ROC",
        "conviction": "HIGH",
        "entry_obi": 0.712,
        "entry_roc": 0.45,
        "regime": "MEDIUM",
        "quarantine": "",
        "params_hash": "p1",
        "exit_client_order_id": "kbtc-paper-2",
    }
    return PositionClosed(**{**values, **fields})


def decision(**fields: Any) -> Decision:
    values: dict[str, Any] = {
        "ts": T0,
        "lane": "paper",
        "ticker": TICKER,
        "direction": None,
        "conviction": "NORMAL",
        "size_mult": 1.0,
        "driver": "OBI",
        "reason": "SIZING_FAILED",
        "rules": (("sizing", "SIZING_FAILED"),),
        "obi": 0.7,
        "roc": 0.2,
        "atr_pct": 0.3,
        "regime": "MEDIUM",
        "yes_price": 9950,
        "count": 0,
        "params_hash": "p1",
    }
    return Decision(**{**values, **fields})


def breaker(**fields: Any) -> BreakerChanged:
    values: dict[str, Any] = {
        "ts": T0,
        "lane": "paper",
        "reason": "DAILY_LOSS",
        "halts": True,
        "bankroll": 940_000_000,
    }
    return BreakerChanged(**{**values, **fields})


def regime(**fields: Any) -> RegimeChanged:
    values: dict[str, Any] = {
        "ts": T0,
        "old": "MEDIUM",
        "new": "HIGH",
        "atr_pct": 0.55,
        "smoothed_atr_pct": 0.52,
    }
    return RegimeChanged(**{**values, **fields})


def candle(close: float, **fields: Any) -> CandleClosed:
    values: dict[str, Any] = {
        "ts": T0,
        "start_ts": T0 - 60_000,
        "interval_s": 60,
        "open": close,
        "high": close,
        "low": close,
        "close": close,
        "tick_count": 10,
    }
    return CandleClosed(**{**values, **fields})
