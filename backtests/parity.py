"""Replay parity: the journal of a paper session, replayed, against what the daemon stored.

The replay is the backtester's own driver (``driver.build_session``: the daemon's session)
fed the recorded events; its outputs become the rows the daemon would have written, through
the daemon's own choices (``DecisionLogGate`` for the signal log, an exit row per
``ClosePosition``, a trade row per ``PositionClosed``). Both sides are reduced to the same
plain tuples, hashed, and compared row by row; the first difference is named.

The replay starts flat with the given bankroll and warms up on the candles table before the
first recorded event, as a fresh ``run_trader`` start does: compare whole sessions (from the
daemon's start), not a stretch that begins with a position open.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backtests.driver import build_session, iso_ms
from backtests.sources import WARMUP_CANDLES, SourceError
from marketdata.recorder.reader import iter_events
from marketdata.recorder.rows import ms_to_utc, utc_to_ms
from trading.engine.intents import ClosePosition
from trading.engine.params import Params
from trading.engine.records import Decision, PositionClosed
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
    params: Params,
    lanes: tuple[str, ...],
    bankroll: int,
    latency_ms: int,
) -> tuple[list[Row], list[Row], int]:
    """(signal-log rows, trade rows, events replayed) the daemon would have written."""
    events = iter_events(start_ts, end_ts)
    first = next(events, None)
    if first is None:
        raise SourceError(f"the journal has no events from {iso_ms(start_ts)} to {iso_ms(end_ts)}")
    session = build_session(
        params,
        lanes=lanes,
        bankroll=bankroll,
        latency_ms=latency_ms,
        warmup=table_candles(first.ts, count=WARMUP_CANDLES),
    )
    gate = DecisionLogGate()
    decisions: list[Row] = []
    trades: list[Row] = []
    count = 0
    params_hash = params.params_hash()
    for event in _chain(first, events):
        count += 1
        for output in session.feed(event):
            if isinstance(output, Decision):
                entered = output.reason == "ENTRY"
                direction = (output.direction or "").lower()
                skip = "" if entered else output.reason
                kind = gate.kind_for(
                    lane=output.lane,
                    ts_ms=output.ts,
                    direction=direction,
                    skip_reason=skip,
                    conviction=output.conviction,
                    entered=entered,
                )
                if kind is not None:
                    decisions.append(
                        (
                            output.lane,
                            output.ts,
                            str(kind),
                            output.ticker or "",
                            direction,
                            output.conviction,
                            skip[:64],
                            output.params_hash,
                        )
                    )
            elif isinstance(output, ClosePosition):
                direction = "long" if output.side == "yes" else "short"
                decisions.append(
                    (
                        output.lane,
                        output.ts,
                        "exit",
                        output.ticker,
                        direction,
                        "",
                        output.reason[:64],
                        params_hash,
                    )
                )
            elif isinstance(output, PositionClosed):
                trades.append(
                    (
                        output.lane,
                        output.position_uid,
                        output.ticker,
                        output.direction.lower(),
                        output.opened_ts,
                        output.ts,
                        output.count,
                        output.entry_yes_price,
                        output.exit_yes_price,
                        output.cost,
                        output.proceeds,
                        output.fees,
                        output.pnl,
                        output.reason,
                    )
                )
    return decisions, trades, count


def _chain(first: Any, rest: Any) -> Any:
    yield first
    yield from rest


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
    params: Params,
    lanes: tuple[str, ...],
    bankroll: int,
    latency_ms: int,
) -> tuple[list[Comparison], int]:
    decisions, trades, events = replay_rows(
        start_ts, end_ts, params=params, lanes=lanes, bankroll=bankroll, latency_ms=latency_ms
    )
    stored_decisions, stored_trades = stored_rows(start_ts, end_ts, lanes)
    return [
        Comparison("decisions", decisions, stored_decisions, DECISION_FIELDS),
        Comparison("trades", trades, stored_trades, TRADE_FIELDS),
    ], events
