"""The backtester's driver configuration: an event source → the daemon's own session
(engine + paper venue, ``trading.runtime.session``) → a metrics sink.

Nothing here decides or fills: ``build_session`` is the only place a backtest constructs
the engine, and the sinks only read the records the session returns. Several parameter
sets are research lanes of one engine, each with its own lane parameters, over one pass of
the market (``trading.engine.lane.LaneSpec``); one set is the named lane alone, so its
trades are those of the daemon's lane.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from marketdata.model.candles import Candle
from marketdata.model.events import Event, MarketStatus
from trading.engine.lane import LaneKind, LaneSpec
from trading.engine.mlgate import WinPredictor
from trading.engine.params import Params, market_differences, with_market_of
from trading.engine.records import Decision, FeaturesCaptured, PositionClosed, trade_list_hash
from trading.runtime.session import Session, new_session, paper_venues

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
    (bankroll after each close that counts), how many entries were decided and each
    position's entry features (the ML gate's training rows, ``mlgate.services.store_run``)."""

    bankroll: int
    trades: list[PositionClosed] = field(default_factory=list)
    equity: list[tuple[int, int]] = field(default_factory=list)
    decisions: int = 0
    entries: int = 0
    features: dict[str, tuple[int, dict[str, float | int | None]]] = field(default_factory=dict)

    def consume(self, outputs: Iterable[object]) -> None:
        for output in outputs:
            if isinstance(output, Decision):
                self.decisions += 1
                if output.reason == "ENTRY":
                    self.entries += 1
            elif isinstance(output, PositionClosed):
                self.trades.append(output)
                if not output.quarantine:
                    last = self.equity[-1][1] if self.equity else self.bankroll
                    self.equity.append((output.ts, last + output.pnl))
            elif isinstance(output, FeaturesCaptured):
                self.features[output.position_uid] = (output.ts, output.features)

    @property
    def counted_trades(self) -> list[PositionClosed]:
        """Trades that count (quarantined ones had their bankroll effect reversed)."""
        return [t for t in self.trades if not t.quarantine]

    def trade_list_sha256(self) -> str:
        return trade_list_hash(self.trades)


def build_session(
    params: Params,
    *,
    lanes: Sequence[str | LaneSpec],
    bankroll: int,
    latency_ms: int,
    warmup: Sequence[Candle],
) -> Session:
    """The one place a backtest or a replay builds an engine: the daemon's ``new_session``
    (its paper venue; no market card: nobody watches a backtest's)."""
    return new_session(
        params,
        lanes=lanes,
        bankroll=bankroll,
        venues=paper_venues(latency_ms),
        warmup=warmup,
        market_snapshots=False,
    )


def lane_specs(sets: Sequence[ParamSet], lane: str, *, research: bool = False) -> list[LaneSpec]:
    """One set: the lane itself (paper or live, by name); several: a research lane each,
    named by its set, with the first set's market parameters (they must agree).
    ``research``: research lanes without per-second decision records even for one set (the
    walk-forward's lanes: only their trades are read)."""
    if research:
        market = sets[0].params
        return [
            LaneSpec(s.name, "research", with_market_of(s.params, market), decisions=False)
            for s in sets
        ]
    if len(sets) == 1:
        kind: LaneKind = "live" if lane == "live" else "paper"
        return [LaneSpec(lane, kind, sets[0].params)]
    market = sets[0].params
    return [LaneSpec(s.name, "research", with_market_of(s.params, market)) for s in sets]


@dataclass(slots=True)
class PassResult:
    sinks: list[MetricsSink]
    events: int
    seconds: float
    first_ts: int | None
    last_ts: int | None
    # ticker → "yes"/"no": the settlements the stream carried (input data, not engine state)
    settlements: dict[str, str] = field(default_factory=dict)


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
    predictor: WinPredictor | None = None,
    research: bool = False,
) -> PassResult:
    """Feed ``events`` (``start_ts <= ts < end_ts``) to one session per parameter set.

    A stretch longer than ``max_gap_ms`` without events, at the start, inside or at the end
    of the period, stops the pass with ``DataGap`` naming its times: a replay across a hole
    would trade a market that never was. ``on_progress(events, ts)`` every few thousand.
    ``predictor``: the ML gate's model for lanes whose ``ml_gate_mode`` is on (none: the
    gate fails open, as the daemon's without a model). The contracts' results the stream
    carries (``MarketStatus.result``) are kept for the signal accuracy of the trades."""
    specs = lane_specs(sets, lane, research=research)
    different = [
        (s.name, name) for s in sets[1:] for name in market_differences(s.params, sets[0].params)
    ]
    if different:
        shown = ", ".join(f"{name} of {set_name}" for set_name, name in different)
        raise ValueError(
            f"parameter sets of one pass must share their market parameters; differing: {shown}"
        )
    session = build_session(
        sets[0].params, lanes=specs, bankroll=bankroll, latency_ms=latency_ms, warmup=warmup
    )
    session.engine.ml_gate.set_predictor(predictor)
    sinks = [MetricsSink(bankroll) for _ in sets]
    by_lane = {spec.name: sink for spec, sink in zip(specs, sinks, strict=True)}
    started = time.perf_counter()
    count = 0
    first_ts: int | None = None
    last = start_ts
    settlements: dict[str, str] = {}
    feed = session.feed
    only = sinks[0] if len(sinks) == 1 else None  # one lane: every output is its own
    for event in events:
        ts = event.ts
        if ts - last > max_gap_ms:
            raise DataGap(f"no events from {iso_ms(last)} to {iso_ms(ts)}")
        if ts > last:
            last = ts
        if first_ts is None:
            first_ts = ts
        if isinstance(event, MarketStatus) and event.result is not None:
            settlements[event.ticker] = event.result
        outputs = feed(event)
        if outputs:
            if only is not None:
                only.consume(outputs)
            else:
                for lane_name, sink in by_lane.items():
                    sink.consume(o for o in outputs if getattr(o, "lane", lane_name) == lane_name)
        count += 1
        if on_progress is not None and count % PROGRESS_EVERY == 0:
            on_progress(count, last)
    if end_ts - last > max_gap_ms:
        raise DataGap(f"no events from {iso_ms(last)} to {iso_ms(end_ts)} (the period's end)")
    if on_progress is not None:
        on_progress(count, last)
    return PassResult(sinks, count, time.perf_counter() - started, first_ts, last, settlements)


def iso_ms(ts: int) -> str:
    """Epoch ms → ``2025-01-01T00:00:00.000Z`` (for messages)."""
    when = dt.datetime.fromtimestamp(ts // 1000, tz=dt.UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{ts % 1000:03d}Z"
