"""The live lane's safety wiring (issue #22): the reconciler of ``trading.venues.reconcile``
given its database side: orphan closes recorded as trades (with the 5-minute dedup), the
``LiveOrphan`` rows following the position manager's orphans, and notifications.

``build_reconciler(venue)`` returns a ``Reconciler`` already registered as one of the
venue's entry gates; the daemon runs ``reconciler.run(stop)`` beside the venue, calls
``reconciler.request("reconnect")`` when the Kalshi sockets reconnect, and merges
``reconciler.health()`` into the health report (``LiveSafetySink`` does both).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.db import transaction

from kbtc_core.db import db_call
from marketdata.model.units import MICROS_PER_DOLLAR, PRICE_MAX
from trading.engine.params import Params
from trading.engine.records import HANDED_OFF
from trading.models import Direction, LiveOrphan, Trade
from trading.notifications import jobs, messages
from trading.notifications.embeds import RED
from trading.runtime.sinks.base import Sink
from trading.venues.kalshi import KalshiVenue
from trading.venues.live_position import Orphan, PositionManagerState
from trading.venues.orphans import OrphanClose, exposure
from trading.venues.reconcile import Reconciler

log = structlog.get_logger(__name__)

DEDUP_WINDOW = timedelta(minutes=5)
# The fill sources of orphan closes' own trades (a 409'd exit's lane trade shares their
# EXPIRY_409_SETTLED reason, so the dedup tells them apart by source).
ORPHAN_SOURCES = ("orphan_settlement", "orphan")
# Orphans of the lane's own position, handed to the orphan path by the venue (an exit that
# sold nothing, an emergency stop): the lane booked none of it, so no recent trade of the
# ticker (an earlier position's) makes their close a duplicate.
HANDED_OFF_CAUSES = frozenset({"EXIT_FAILED", "EMERGENCY_STOP"})


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _dollars(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_DOLLAR


def _price(units: int) -> Decimal:
    return Decimal(units) / PRICE_MAX


def record_orphan_close(lane: str, close: OrphanClose) -> Trade | None:
    """The orphan close as a live trade, unless a live trade on the same ticker closed in
    the 5 minutes before it (§3.17.7 dedup: the lane already booked those contracts).
    Orphans of the lane's own handed-off position (``HANDED_OFF_CAUSES``) are never
    deduplicated. Returns the trade, or None when deduplicated."""
    closed_at = _at(close.closed_ts)
    with transaction.atomic():
        recent = (
            None
            if close.cause in HANDED_OFF_CAUSES
            else (
                Trade.objects.select_for_update()
                .filter(
                    lane=lane,
                    ticker=close.ticker,
                    closed_at__gte=closed_at - DEDUP_WINDOW,
                    closed_at__lte=closed_at,
                )
                # Neither another orphan close nor a position the venue took from the lane (a
                # failed exit, a ghost: it booked none of these contracts) counts.
                .exclude(fill_source__in=(*ORPHAN_SOURCES, HANDED_OFF))
                .first()
            )
        )
        if recent is not None:
            log.warning(
                "live_orphan_trade_deduplicated",
                ticker=close.ticker,
                reason=close.reason,
                trade=recent.position_uid,
            )
            trade = None
        else:
            uid = f"orphan-{close.ticker}-{close.detected_ts}-{close.closed_ts}"[:64]
            trade = Trade.objects.create(
                lane=lane,
                ticker=close.ticker,
                direction=Direction.LONG if close.side == "yes" else Direction.SHORT,
                conviction="UNKNOWN",
                driver="UNKNOWN",
                regime="UNKNOWN",
                entry_price=_price(close.entry_yes_price),
                exit_price=_price(close.exit_yes_price),
                opened_at=_at(close.detected_ts),
                closed_at=closed_at,
                contracts=Decimal(close.count) / 100,
                entry_cost=_dollars(close.entry_cost),
                exit_proceeds=_dollars(close.proceeds),
                fees=_dollars(close.entry_fees + close.exit_fees),
                pnl=_dollars(close.pnl),
                pnl_pct=close.pnl / close.entry_cost if close.entry_cost else 0.0,
                exit_reason=close.reason,
                held_s=0,
                position_uid=uid,
                exit_client_order_id=",".join(close.exit_order_ids)[:64],
                fill_source="orphan" if close.reason == "ORPHAN_RECOVERY" else "orphan_settlement",
                # A cost the exchange did not give makes the PnL a guess: out of aggregates.
                data_quality_flag="" if close.entry_cost else "ORPHAN_COST_UNKNOWN",
            )
        row = LiveOrphan.objects.filter(lane=lane, ticker=close.ticker, closed_at=None).first()
        if row is not None:
            row.trade = trade or row.trade
            if not close.remaining:
                row.close_reason = close.reason if trade else f"{close.reason} (dedup)"[:40]
            row.save(update_fields=["trade", "close_reason", "updated_at"])
    return trade


def sync_orphan_rows(lane: str, orphans: dict[str, Orphan], now_ms: int) -> None:
    """Make the open ``LiveOrphan`` rows what the state holds: new ones created, counts
    replaced, the ones no longer held closed (``close_reason`` from their trade, else
    ``GONE``: closed outside KBTC or by close-all)."""
    with transaction.atomic():
        open_rows = {
            r.ticker: r
            for r in LiveOrphan.objects.select_for_update().filter(lane=lane, closed_at=None)
        }
        for ticker, orphan in orphans.items():
            values: dict[str, Any] = {
                "direction": Direction.LONG if orphan.signed > 0 else Direction.SHORT,
                "contracts": Decimal(abs(orphan.signed)) / 100,
                "cost": _dollars(orphan.cost),
                "exposure": _dollars(exposure(orphan)),
                "cause": orphan.cause[:40],
                "counted": orphan.counted,
            }
            row = open_rows.pop(ticker, None)
            if row is None:
                LiveOrphan.objects.create(
                    lane=lane, ticker=ticker, detected_at=_at(orphan.detected_ts), **values
                )
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                row.save()
        for row in open_rows.values():
            row.closed_at = _at(now_ms)
            row.close_reason = row.close_reason or "GONE"
            row.save(update_fields=["closed_at", "close_reason", "updated_at"])


def open_orphans(lane: str = "live") -> list[LiveOrphan]:
    return list(LiveOrphan.objects.filter(lane=lane, closed_at=None).order_by("detected_at"))


def _post(channel: str, title: str, text: str) -> None:
    jobs.notify(messages.report(channel, title, mode="live", text=text, color=RED))


def build_reconciler(
    venue: KalshiVenue,
    *,
    max_contracts: Callable[[], int] = lambda: 50,
    every_s: float = 15.0,
    orphan_every_s: float = 15.0,
) -> Reconciler:
    """The venue's reconciler with its rows, trades and notifications."""
    lane = venue.lane

    async def record(close: OrphanClose) -> None:
        await db_call(record_orphan_close)(lane, close)

    async def changed(state: PositionManagerState) -> None:
        await db_call(sync_orphan_rows)(lane, dict(state.orphans), venue.clock.now_ms())

    async def notify(channel: str, text: str) -> None:
        try:
            # Its own thread: an eager Celery post retries for minutes; never on the ORM's.
            await asyncio.to_thread(_post, channel, "Live reconciliation", text)
        except Exception as exc:  # a notification never stops reconciliation
            log.warning("live_reconcile_notify_failed", error=str(exc))

    venue.notify = notify  # the venue's own notices (an exit orphaned) go the same way
    return Reconciler(
        venue,
        max_contracts=max_contracts,
        every_s=every_s,
        orphan_every_s=orphan_every_s,
        record_close=record,
        orphans_changed=changed,
        notify=notify,
    )


def live_safety_sink(venue: KalshiVenue, feed: Any) -> LiveSafetySink:
    """The reconciler of the live venue as a sink; ``feed``'s Kalshi socket reconnecting
    requests a reconciliation (``NetworkFeed.kalshi.stats.connects``)."""

    def connects() -> int:
        client = getattr(feed, "kalshi", None)
        return int(client.stats.connects) if client is not None else 0

    max_contracts = Params().max_live_contracts
    return LiveSafetySink(build_reconciler(venue, max_contracts=lambda: max_contracts), connects)


class LiveSafetySink(Sink):
    """Runs the reconciler beside the daemon and reports it in the health topic; a
    reconnect of a Kalshi socket (``connects`` going up) requests a reconciliation."""

    name = "live_safety"

    def __init__(self, reconciler: Reconciler, connects: Callable[[], int] = lambda: 0) -> None:
        self.reconciler = reconciler
        self.connects = connects
        self._seen = connects()

    def consume(self, event: Any, produced: Sequence[Any], now: int) -> None:
        seen = self.connects()
        if seen != self._seen:
            if self._seen:
                self.reconciler.request("reconnect")
            self._seen = seen

    async def run(self, stop: asyncio.Event) -> None:
        await self.reconciler.run(stop)

    def health(self) -> dict[str, Any]:
        return self.reconciler.health()
