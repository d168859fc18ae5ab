"""Reads of the attribution app: the trades attribution may count, as ``TradeOutcome``s."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from trading.clock import day_start
from trading.models import Trade

MICRO = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class StoredTrade:
    """A ``Trade`` row in the engine's units (``attribution.breakdown.TradeOutcome``)."""

    opened_ts: int
    ts: int
    pnl: int
    pnl_frac: float
    fees: int
    direction: str
    conviction: str
    regime: str
    reason: str
    entry_obi: float | None
    entry_roc: float | None
    entry_yes_price: int  # $0.0001
    exit_yes_price: int


def _ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def stored_trade(row: Trade) -> StoredTrade:
    return StoredTrade(
        opened_ts=_ms(row.opened_at),
        ts=_ms(row.closed_at),
        pnl=int(row.pnl * MICRO),
        pnl_frac=row.pnl_pct,
        fees=int(row.fees * MICRO),
        direction=row.direction.upper(),
        conviction=row.conviction,
        regime=row.regime,
        reason=row.exit_reason,
        entry_obi=row.entry_obi,
        entry_roc=row.entry_roc,
        entry_yes_price=int(row.entry_price * 10_000),
        exit_yes_price=int(row.exit_price * 10_000),
    )


def attributable_trades(
    *, lane: str, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> list[StoredTrade]:
    """A lane's trades that closed in ``[start, end)``, oldest first. Quarantined and
    data-quality-flagged rows are shown in the trade list but never counted (domain.md §3.20;
    the original's daily job forgot this, §5.2 [FIX])."""
    rows = Trade.objects.filter(lane=lane, quarantined=False, data_quality_flag="")
    if start is not None:
        rows = rows.filter(closed_at__gte=start)
    if end is not None:
        rows = rows.filter(closed_at__lt=end)
    return [stored_trade(row) for row in rows.order_by("closed_at", "id")]


def day_trades(*, lane: str, day: dt.date, days: int = 1) -> list[StoredTrade]:
    """The trades whose exit fell on ``day`` (UTC) or the ``days - 1`` days after it."""
    start = day_start(day)
    return attributable_trades(lane=lane, start=start, end=start + dt.timedelta(days=days))


def first_trade_day(*, lane: str) -> dt.date | None:
    first = (
        Trade.objects.filter(lane=lane, quarantined=False, data_quality_flag="")
        .order_by("closed_at")
        .values_list("closed_at", flat=True)
        .first()
    )
    return first.astimezone(dt.UTC).date() if first is not None else None
