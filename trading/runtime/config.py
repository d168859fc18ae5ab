"""What a daemon is built with (``DaemonConfig``), the shapes of its inputs, and the
collector tuning it does once started."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marketdata.model.candles import Candle
from marketdata.model.events import EventSink
from trading.engine.engine import DEFAULT_BANKROLL
from trading.engine.mlgate import WinPredictor
from trading.engine.params import DEFAULT_PARAMS, Params

Feed = Callable[[EventSink, asyncio.Event], Coroutine[Any, Any, None]]
CandleSource = Callable[[int], list[Candle]]
# The ML gate's model for a start: a predictor, or None and why (the gate then fails open).
PredictorLoader = Callable[[], tuple[WinPredictor | None, str]]


def tune_gc() -> None:
    """Everything alive after start-up (Django, the warmed-up engine) moves to the
    permanent generation, so the collections that run inside ``on_event`` (an allocation
    triggers them) only walk what the run allocated since."""
    gc.collect()
    gc.freeze()


@dataclass
class DaemonConfig:
    lanes: tuple[str, ...] = ("paper",)
    bankroll: int | Mapping[str, int] = DEFAULT_BANKROLL  # per lane, or one for all
    latency_ms: int = 200
    base_params: Params = DEFAULT_PARAMS
    replay_window_ms: int = 12 * 3600 * 1000
    state_save_every_ms: int = 300_000  # event time (domain.md §3.1: state save 5 min)
    controls_poll_s: float = 1.0
    heartbeat_s: float = 5.0
    publish_every_s: float = 0.2
    spill_dir: Path | None = None  # writes a stop could not make; None: KBTC_DATA_DIR
