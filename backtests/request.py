"""What a backtest is asked to run: the command's options as one checked, JSON-able value.

``manage.py backtest``, the admin's start form and the ``run_backtest`` task all go through
``BacktestRequest``: checked before any work (``check``), sent to a worker as plain JSON
(``to_dict`` / ``from_dict``) and turned into its data source on the process that runs it
(``source``: reading a history file takes time, so not on the web process).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from backtests.driver import ParamSet
from backtests.paramsets import ParamFileError, param_sets
from trading.engine.engine import DEFAULT_BANKROLL

if TYPE_CHECKING:
    from backtests.sources import Source

SOURCES = ("journal", "history", "archive")
LANES = ("paper", "live")


class RequestError(ValueError):
    """A request that cannot run; the message names the field and what it expected."""


def dollars_to_micros(value: str) -> int:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise RequestError(f"not an amount of dollars: {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise RequestError(f"bankroll must be a positive amount of dollars, got {value}")
    return int(amount * 1_000_000)


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    start_ts: int
    end_ts: int
    source: str = "history"
    history: str | None = None  # a kline file, 'table', or None for KBTC_HISTORY
    settled: str | None = None
    seed: int = 1
    archive_dir: str | None = None
    stream: str = "journal"
    params: str = "default"
    lane: str = "paper"
    bankroll: int = DEFAULT_BANKROLL  # micro-dollars
    latency_ms: int = 200
    max_gap_s: int = 120

    def check(self) -> list[ParamSet]:
        """Raise ``RequestError`` naming the first bad field; the parameter sets otherwise."""
        if self.end_ts <= self.start_ts:
            raise RequestError("end must be after start")
        if self.source not in SOURCES:
            raise RequestError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.lane not in LANES:
            raise RequestError(f"lane must be one of {', '.join(LANES)}, got {self.lane!r}")
        if self.latency_ms < 0 or self.max_gap_s <= 0:
            raise RequestError("latency_ms must be >= 0 and max_gap_s > 0")
        if self.bankroll <= 0:
            raise RequestError("bankroll must be positive")
        if self.source == "history" and self.history_path() is None and self._history() != "table":
            raise RequestError(
                "the history source needs a history file (or KBTC_HISTORY) or 'table'"
            )
        try:
            return param_sets(self.params, self.lane)
        except ParamFileError as exc:
            raise RequestError(str(exc)) from exc

    def _history(self) -> str | None:
        return self.history or settings.KBTC["HISTORY"]

    def history_path(self) -> Path | None:
        history = self._history()
        return None if history in (None, "table") else Path(history)

    def source_of(self) -> Source:
        """The data source (reads the data; raises ``SourceError`` naming what is wrong).
        Imported here: the sources load the simulator, which the web process never does."""
        from backtests.sources import archive_source, history_source, journal_source

        if self.source == "journal":
            return journal_source(self.start_ts, self.end_ts)
        if self.source == "archive":
            from marketdata.management.commands.archive_events import default_root

            return archive_source(
                self.start_ts,
                self.end_ts,
                root=Path(self.archive_dir) if self.archive_dir else default_root(),
                stream=self.stream,
                history=self.history_path(),
            )
        return history_source(
            self.start_ts,
            self.end_ts,
            history=self.history_path(),
            seed=self.seed,
            settled=Path(self.settled) if self.settled else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BacktestRequest:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise RequestError(f"unknown request fields: {', '.join(unknown)}")
        try:
            return cls(**raw)
        except TypeError as exc:
            raise RequestError(str(exc)) from exc
