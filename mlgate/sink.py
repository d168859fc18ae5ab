"""The daemon's feature capture: a sink that queues the entry's features and the exit's
label on the daemon's batched writer (never waits on the database, §7.1–7.2).

Rows are keyed by position uid, never by ticker (the original's cross-lane bug, §7.1
[FIX]). The writes are optional ones: a full queue drops them (counted by the writer)
rather than holding the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from kbtc_core.db import db_call
from marketdata.model.events import Event
from mlgate import services
from mlgate.models import ModelVersion
from mlgate.predictor import GatePredictor
from trading.engine.records import (
    HANDED_OFF,
    Decision,
    FeaturesCaptured,
    PositionClosed,
    PositionOpened,
)
from trading.runtime.session import SessionOutput
from trading.runtime.sinks.base import Sink
from trading.runtime.writer import PersistWriter, Write

log = structlog.get_logger(__name__)


class FeaturesSink(Sink):
    name = "mlgate_features"

    def __init__(self, writer: PersistWriter) -> None:
        self.writer = writer
        self.tickers: dict[str, str] = {}  # position uid → ticker, from its opening
        self.captured = 0
        self.labelled = 0

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        for item in produced:
            if isinstance(item, PositionOpened):
                self.tickers[item.position_uid] = item.ticker
            elif isinstance(item, FeaturesCaptured):
                self.captured += 1
                self.writer.put(
                    Write(
                        services.capture,
                        {
                            "position_uid": item.position_uid,
                            "lane": item.lane,
                            "source": "live" if item.lane == "live" else "paper",
                            "ticker": self.tickers.pop(item.position_uid, ""),
                            "entry_ts_ms": item.ts,
                            "features": item.features,
                        },
                    )
                )
            elif isinstance(item, PositionClosed) and item.fill_source != HANDED_OFF:
                # (a position the venue took away has no outcome of its own: unlabelled)
                self.labelled += 1
                self.writer.put(
                    Write(
                        services.label,
                        {"position_uid": item.position_uid, "outcome": services.outcome(item)},
                    )
                )

    def health(self) -> dict[str, Any]:
        return {"mlgate": {"captured": self.captured, "labelled": self.labelled}}


RECENT = 8  # recent p_win shown on the dashboard
_P = re.compile(r"p(\d\.\d\d)$")


class ModelWatch(Sink):
    """Keeps the daemon's gate model the active one: ``load`` is the daemon's predictor
    loader at the start, and ``run`` polls the active version's id every ``poll_s``; when
    it changed (a promotion, an activation, a retirement) it loads the new one and hands
    it to the session through ``apply``, on the loop between two events. No restart.
    A failed poll (the database away) is logged and retried; the model in use stays.
    It also keeps the latest decisions' gate outcomes (p_win) for the dashboard, pushed
    with the health topic."""

    name = "mlgate_model"

    def __init__(self, *, poll_s: float = 5.0) -> None:
        self.poll_s = poll_s
        self.apply: Callable[[GatePredictor | None, str], None] = lambda p, e: None
        self.loaded_id: int | None = None  # the active version at the last load (None: none)
        self.loads = 0
        self.reloads = 0
        self.poll_error = ""
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)

    def consume(self, event: Event | None, produced: Sequence[SessionOutput], now: int) -> None:
        for item in produced:
            if isinstance(item, Decision):
                for name, outcome in item.rules:
                    if name == "ml_gate":
                        found = _P.search(outcome)
                        p = float(found.group(1)) if found else None
                        self.recent.append(
                            {"ts": item.ts, "lane": item.lane, "p": p, "outcome": outcome}
                        )

    def load(self) -> tuple[GatePredictor | None, str]:
        """The active version as a predictor (database, blocking), remembering its id."""
        version = ModelVersion.objects.filter(active=True).first()
        self.loaded_id = version.pk if version is not None else None
        self.loads += 1
        if version is None:
            log.info("ml_gate_no_model")
            return None, ""
        return services.load_predictor(version)

    @staticmethod
    def active_id() -> int | None:
        return ModelVersion.objects.filter(active=True).values_list("pk", flat=True).first()

    async def run(self, stop: asyncio.Event) -> None:
        read, load = db_call(self.active_id), db_call(self.load)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)
            if stop.is_set():
                return
            try:
                if await read() == self.loaded_id:
                    continue
                previous = self.loaded_id
                predictor, error = await load()
            except Exception as exc:  # the database may be away: keep the model in use
                self.poll_error = f"{type(exc).__name__}: {str(exc).strip()}"[:200]
                log.warning("ml_gate_model_poll_failed", error=self.poll_error)
                continue
            self.poll_error = ""
            self.reloads += 1
            self.apply(predictor, error)
            log.info("ml_gate_model_reloaded", previous=previous, model=self.loaded_id)

    def health(self) -> dict[str, Any]:
        return {
            "ml_model": {
                "loaded": self.loaded_id,
                "reloads": self.reloads,
                "poll_error": self.poll_error,
                "recent": list(self.recent),
            }
        }
