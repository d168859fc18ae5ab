"""The backtester's driver configuration: an event source → the daemon's own session
(engine + paper venue, ``trading.runtime.session``) → a metrics sink.

Nothing here decides or fills: ``build_session`` is the only place a backtest constructs
the engine, and the sink only reads the records the session returns. Several parameter
sets run as separate sessions fed the same events in one pass (until the engine runs
research lanes, each with its own parameters, over one market: then ``build_session``
changes, nothing else).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from marketdata.model.candles import Candle
from marketdata.model.events import Event
from trading.engine.params import Params
from trading.engine.records import Decision, PositionClosed, trade_list_hash
from trading.runtime.session import Session, new_session

PROGRESS_EVERY = 8192  # events between progress reports


class DataGap(ValueError):
    """The stream has no events for longer than allowed: a hole in the data, named."""


@dataclass(frozen=True, slots=True)
class ParamSet:
    name: str
    params: Params


@dataclass(slots=True)
class MetricsSink:
    """What a run keeps of its session's outputs: the closed trades, the equity curve
    (bankroll after each close that counts) and how many entries were decided."""

    bankroll: int
    trades: list[PositionClosed] = field(default_factory=list)
    equity: list[tuple[int, int]] = field(default_factory=list)
    decisions: int = 0
    entries: int = 0

    def consume(self, outputs: Iterable[object]) -> None:
        for output in outputs:
            kind = type(output)
            if kind is Decision:
                self.decisions += 1
                if output.reason == "ENTRY":  # type: ignore[attr-defined]
                    self.entries += 1
            elif kind is PositionClosed:
                self.trades.append(output)  # type: ignore[arg-type]
                if not output.quarantine:  # type: ignore[attr-defined]
                    last = self.equity[-1][1] if self.equity else self.bankroll
                    self.equity.append((output.ts, last + output.pnl))  # type: ignore[attr-defined]

    @property
    def counted_trades(self) -> list[PositionClosed]:
        """Trades that count (quarantined ones had their bankroll effect reversed)."""
        return [t for t in self.trades if not t.quarantine]

    def trade_list_sha256(self) -> str:
        return trade_list_hash(self.trades)


def build_session(
    params: Params, *, lane: str, bankroll: int, latency_ms: int, warmup: Sequence[Candle]
) -> Session:
    """The one place a backtest builds an engine: the daemon's ``new_session``."""
    return new_session(
        params, lanes=(lane,), bankroll=bankroll, latency_ms=latency_ms, warmup=warmup
    )


@dataclass(slots=True)
class PassResult:
    sinks: list[MetricsSink]
    events: int
    seconds: float
    first_ts: int | None
    last_ts: int | None


def run_pass(
    events: Iterable[Event],
    sets: Sequence[ParamSet],
    *,
    lane: str,
    bankroll: int,
    latency_ms: int,
    warmup: Sequence[Candle],
    start_ts: int,
    end_ts: int,
    max_gap_ms: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> PassResult:
    """Feed ``events`` (``start_ts <= ts < end_ts``) to one session per parameter set.

    A stretch longer than ``max_gap_ms`` without events, at the start, inside or at the end
    of the period, stops the pass with ``DataGap`` naming its times: a replay across a hole
    would trade a market that never was. ``on_progress(events, ts)`` every few thousand."""
    sessions = [
        build_session(s.params, lane=lane, bankroll=bankroll, latency_ms=latency_ms, warmup=warmup)
        for s in sets
    ]
    sinks = [MetricsSink(bankroll) for _ in sets]
    pairs = list(zip(sessions, sinks, strict=True))
    started = time.perf_counter()
    count = 0
    first_ts: int | None = None
    last = start_ts
    for event in events:
        ts = event.ts
        if ts - last > max_gap_ms:
            raise DataGap(f"no events from {iso_ms(last)} to {iso_ms(ts)}")
        if ts > last:
            last = ts
        if first_ts is None:
            first_ts = ts
        for session, sink in pairs:
            outputs = session.feed(event)
            if outputs:
                sink.consume(outputs)
        count += 1
        if on_progress is not None and count % PROGRESS_EVERY == 0:
            on_progress(count, last)
    if end_ts - last > max_gap_ms:
        raise DataGap(f"no events from {iso_ms(last)} to {iso_ms(end_ts)} (the period's end)")
    if on_progress is not None:
        on_progress(count, last)
    return PassResult(sinks, count, time.perf_counter() - started, first_ts, last)


def iso_ms(ts: int) -> str:
    """Epoch ms → ``2025-01-01T00:00:00.000Z`` (for messages)."""
    when = dt.datetime.fromtimestamp(ts // 1000, tz=dt.UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{ts % 1000:03d}Z"
