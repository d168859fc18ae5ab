"""The canary's promotion gates (domain.md §3.19, issue #23), read from what the live lane
stored (and, for oversized orphans, the exchange's own order list):

- no ``ORPHAN_SETTLED`` close (a trade or an orphan row closed so, deduplicated ones too) of
  a position the lane lost track of. An ``EXIT_FAILED`` orphan whose every exit attempt on
  the exchange was a 1 ¢ floor sell that filled nothing is not one: its exits met an empty
  bid side (nothing at or above 1 ¢ to sell into), which real KXBTC15M books show on the
  losing side in 25 % of the readings 2–3 minutes before the close and 75 % in the last
  minute (README, "Chaos and the canary"); it is orphaned by domain.md §3.17.3 (BUG-031)
  and settles at its result. Such orphans are counted in the gate's detail, never hidden;
  one with a rejected, errored or partly filled attempt, or none on the exchange, fails it;
- no oversized orphan (an order ``kbtc-oversize-…``: reconciliation sold a position over
  3 × ``max_live_contracts``);
- no unresolved DESYNC (the durable position state is not ``DESYNC`` at the end);
- no two live trades on one ticker closed within a minute of each other;
- at least one live trade.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from marketdata.kalshi.account_wire import OrderInfo
from marketdata.model.units import PRICE_MAX
from trading.models import LiveOrphan, LivePositionState, Trade

OVERSIZE_PREFIX = "kbtc-oversize-"
FLOOR = PRICE_MAX // 100  # 1 ¢: the exit's floor price (domain.md §3.17.3)
EXIT_WINDOW = timedelta(minutes=2)  # an orphan's exit attempts come just before its adoption


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


def promotion_gates(
    *, since: datetime, orders: Iterable[OrderInfo], lane: str = "live"
) -> list[Gate]:
    """The gates over the live trades and orphans from ``since`` (event time) on;
    ``orders``: every order the account placed in the run, as the exchange lists them."""
    orders = list(orders)
    trades = list(
        Trade.objects.filter(lane=lane, closed_at__gte=since).order_by("ticker", "closed_at")
    )
    settled = list(
        LiveOrphan.objects.filter(
            lane=lane, detected_at__gte=since, close_reason__startswith="ORPHAN_SETTLED"
        )
    )
    no_bid = {o.ticker for o in settled if _exits_met_no_bid(o, orders)}
    lost_rows = [o for o in settled if o.ticker not in no_bid]
    settled_trades = [t for t in trades if t.exit_reason == "ORPHAN_SETTLED"]
    lost_trades = [t for t in settled_trades if t.ticker not in no_bid]
    oversized = sorted(
        {o.client_order_id for o in orders if o.client_order_id.startswith(OVERSIZE_PREFIX)}
    )
    row = LivePositionState.objects.filter(lane=lane).first()
    state = row.state if row is not None else "FLAT"
    reason = (row.data or {}).get("desync_reason", "") if row is not None else ""
    close_pairs = _close_pairs(trades)
    return [
        Gate(
            "0 ORPHAN_SETTLED",
            not lost_trades and not lost_rows,
            f"{len(settled_trades)} trades, {len(settled)} orphan rows closed ORPHAN_SETTLED; "
            f"{len(no_bid)} of them exits into an empty bid side (every 1¢ sell filled "
            f"nothing){': ' + ', '.join(sorted(no_bid)) if no_bid else ''}",
        ),
        Gate("0 oversized orphans", not oversized, f"{len(oversized)} oversize orders {oversized}"),
        Gate(
            "no unresolved DESYNC",
            state != "DESYNC",
            f"live position state {state}" + (f" ({reason})" if reason else ""),
        ),
        Gate(
            "no two trades on one ticker in one minute",
            not close_pairs,
            f"{len(close_pairs)} pairs" + (f": {close_pairs[:5]}" if close_pairs else ""),
        ),
        Gate(">= 1 trade", bool(trades), f"{len(trades)} live trades"),
    ]


def _exits_met_no_bid(orphan: LiveOrphan, orders: list[OrderInfo]) -> bool:
    """An ``EXIT_FAILED`` orphan whose exit attempts (the lane's sells on its market in the
    two minutes before its adoption) were all accepted 1 ¢ sells that filled nothing."""
    if orphan.cause != "EXIT_FAILED":
        return False
    begin = int((orphan.detected_at - EXIT_WINDOW).timestamp() * 1000)
    end = int(orphan.detected_at.timestamp() * 1000) + 1000
    attempts = [
        o
        for o in orders
        if o.ticker == orphan.ticker
        and o.action == "sell"
        and not o.client_order_id.startswith(OVERSIZE_PREFIX)
        and o.ts is not None
        and begin <= o.ts <= end
    ]
    return bool(attempts) and all(
        o.fill_count == 0
        and o.status == "canceled"
        and (o.yes_price if o.side == "yes" else PRICE_MAX - o.yes_price) == FLOOR
        for o in attempts
    )


def _close_pairs(trades: list[Any]) -> list[str]:
    pairs = []
    for a, b in itertools.pairwise(trades):
        if a.ticker == b.ticker and b.closed_at - a.closed_at < timedelta(minutes=1):
            pairs.append(f"{a.ticker} {a.position_uid}/{b.position_uid}")
    return pairs
