"""Replay parity: the journal of a paper session, replayed, against what the daemon stored.

The replay is the backtester's own driver (``driver.build_session``: the daemon's session)
fed the recorded events; its outputs become the rows the daemon would have written, through
the daemon's own choices and mapping (``DecisionLogGate`` and ``trading.runtime.outputs``'
signal-log writes, an exit row per ``ClosePosition``, a trade row per ``PositionClosed``).
Both sides are reduced to the same plain tuples, hashed, and compared row by row; the first
difference is named.

The replay starts flat with the given bankroll and warms up on the candles table before the
first recorded event, as a fresh ``run_trader`` start does: compare whole sessions (from the
daemon's start), not a stretch that begins with a position open.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backtests.driver import build_session, iso_ms
from backtests.sources import WARMUP_CANDLES, SourceError
from marketdata.recorder.reader import iter_events
from marketdata.recorder.rows import ms_to_utc, utc_to_ms
from trading.engine.intents import ClosePosition
from trading.engine.lane import LaneSpec
from trading.engine.params import Params
from trading.engine.records import Decision, PositionClosed
from trading.runtime import outputs
from trading.runtime.warmup import table_candles
from trading.services.trades import DecisionLogGate

Row = tuple[Any, ...]
DECISION_FIELDS = (
    *("lane", "ts", "kind", "ticker", "direction", "conviction", "skip_reason", "params_hash"),
)
TRADE_FIELDS = (
    *("lane", "position_uid", "ticker", "direction", "opened", "closed", "contracts"),
    *("entry_price", "exit_price", "cost", "proceeds", "fees", "pnl", "exit_reason"),
)


@dataclass(frozen=True, slots=True)
class Comparison:
    name: str
    replayed: list[Row]
    stored: list[Row]
    fields: tuple[str, ...]

    @property
    def replayed_sha256(self) -> str:
        return rows_sha256(self.replayed)

    @property
    def stored_sha256(self) -> str:
        return rows_sha256(self.stored)

    def first_difference(self) -> str | None:
        for index, (mine, theirs) in enumerate(zip(self.replayed, self.stored, strict=False)):
            if mine != theirs:
                return (
                    f"{self.name} row {index + 1}: replay {self._show(mine)} / "
                    f"stored {self._show(theirs)}"
                )
        if len(self.replayed) != len(self.stored):
            shorter, longer = sorted((self.replayed, self.stored), key=len)
            extra = longer[len(shorter)]
            side = "replay" if longer is self.replayed else "store"
            return (
                f"{self.name}: replay has {len(self.replayed)} rows, store {len(self.stored)}; "
                f"row {len(shorter) + 1} only in the {side}: {self._show(extra)}"
            )
        return None

    def _show(self, row: Row) -> str:
        return json.dumps(dict(zip(self.fields, row, strict=True)), default=str)


def rows_sha256(rows: Sequence[Row]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _micros(value: Decimal) -> int:
    return int(value * 1_000_000)


def replay_rows(
    start_ts: int,
    end_ts: int,
    *,
    params: Mapping[str, Params],
    bankroll: int,
    latency_ms: int,
) -> tuple[list[Row], list[Row], int]:
    """(signal-log rows, trade rows, events replayed) the daemon would have written, for
    each lane of ``params`` (lane → its parameters, as the daemon applied them)."""
    events = iter_events(start_ts, end_ts)
    first = next(events, None)
    if first is None:
        raise SourceError(f"the journal has no events from {iso_ms(start_ts)} to {iso_ms(end_ts)}")
    specs = [LaneSpec(lane, "live" if lane == "live" else "paper", p) for lane, p in params.items()]
    session = build_session(
        next(iter(params.values())),
        lanes=specs,
        bankroll=bankroll,
        latency_ms=latency_ms,
        warmup=table_candles(first.ts, count=WARMUP_CANDLES),
    )
    gate = DecisionLogGate()
    decisions: list[Row] = []
    trades: list[Row] = []
    count = 0
    params_hash = {lane: p.params_hash() for lane, p in params.items()}
    for event in itertools.chain((first,), events):
        count += 1
        for output in session.feed(event):
            if isinstance(output, Decision):
                kind = _gate(gate, output)
                if kind is not None:
                    decisions.append(_decision_row(outputs.decision_write(output, kind).kwargs))
            elif isinstance(output, ClosePosition):
                write = outputs.exit_decision_write(output, params_hash[output.lane])
                decisions.append(_decision_row(write.kwargs))
            elif isinstance(output, PositionClosed):
                trades.append(_trade_row(output))
    return decisions, trades, count


def _gate(gate: DecisionLogGate, decision: Decision) -> str | None:
    """The daemon's choice of signal-log row for an evaluation (``Daemon._on_decision``)."""
    entered = decision.reason == "ENTRY"
    return gate.kind_for(
        lane=decision.lane,
        ts_ms=decision.ts,
        direction=outputs.direction(decision.direction),
        skip_reason="" if entered else decision.reason,
        conviction=decision.conviction,
        entered=entered,
    )


def _decision_row(kwargs: dict[str, Any]) -> Row:
    """The compared columns of a signal-log write, with ``decision_record``'s defaults."""
    return (
        kwargs["lane"],
        kwargs["ts_ms"],
        str(kwargs["kind"]),
        kwargs.get("ticker", ""),
        kwargs.get("direction", ""),
        kwargs.get("conviction", ""),
        kwargs.get("skip_reason", "")[:64],
        kwargs.get("params_hash", ""),
    )


def _trade_row(record: PositionClosed) -> Row:
    return (
        *(record.lane, record.position_uid, record.ticker, outputs.direction(record.direction)),
        *(record.opened_ts, record.ts, record.count, record.entry_yes_price),
        *(record.exit_yes_price, record.cost, record.proceeds, record.fees, record.pnl),
        record.reason,
    )


def stored_rows(start_ts: int, end_ts: int, lanes: tuple[str, ...]) -> tuple[list[Row], list[Row]]:
    from trading.models import Decision as DecisionRow
    from trading.models import Trade

    begin, end = ms_to_utc(start_ts), ms_to_utc(end_ts)
    decisions = [
        (lane, utc_to_ms(ts), kind, ticker, direction, conviction, skip, params_hash)
        for lane, ts, kind, ticker, direction, conviction, skip, params_hash in (
            DecisionRow.objects.filter(lane__in=lanes, ts__gte=begin, ts__lt=end)
            .order_by("ts", "id")
            .values_list(
                "lane",
                "ts",
                "kind",
                "ticker",
                "direction",
                "conviction",
                "skip_reason",
                "params_hash",
            )
        )
    ]
    trades = [
        (
            t.lane,
            t.position_uid,
            t.ticker,
            t.direction,
            utc_to_ms(t.opened_at),
            utc_to_ms(t.closed_at),
            int(t.contracts * 100),
            int(t.entry_price * 10_000),
            int(t.exit_price * 10_000),
            _micros(t.entry_cost),
            _micros(t.exit_proceeds),
            _micros(t.fees),
            _micros(t.pnl),
            t.exit_reason,
        )
        for t in Trade.objects.filter(
            lane__in=lanes, closed_at__gte=begin, closed_at__lt=end
        ).order_by("closed_at", "id")
    ]
    return decisions, trades


def compare(
    start_ts: int,
    end_ts: int,
    *,
    params: Mapping[str, Params],
    bankroll: int,
    latency_ms: int,
) -> tuple[list[Comparison], int]:
    """``params``: lane → the parameters the daemon ran it with."""
    decisions, trades, events = replay_rows(
        start_ts, end_ts, params=params, bankroll=bankroll, latency_ms=latency_ms
    )
    stored_decisions, stored_trades = stored_rows(start_ts, end_ts, tuple(params))
    return [
        Comparison("decisions", decisions, stored_decisions, DECISION_FIELDS),
        Comparison("trades", trades, stored_trades, TRADE_FIELDS),
    ], events
