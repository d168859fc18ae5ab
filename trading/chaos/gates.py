"""The canary's promotion gates (domain.md §3.19, issue #23), read from what the live lane
stored (and, for oversized orphans, the exchange's own order list):

- no ``ORPHAN_SETTLED`` close (a trade or an orphan row closed so, deduplicated ones too);
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

from trading.models import LiveOrphan, LivePositionState, Trade

OVERSIZE_PREFIX = "kbtc-oversize-"


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


def promotion_gates(
    *, since: datetime, client_order_ids: Iterable[str], lane: str = "live"
) -> list[Gate]:
    """The gates over the live trades and orphans from ``since`` (event time) on;
    ``client_order_ids``: of every order the account placed in the run."""
    trades = list(
        Trade.objects.filter(lane=lane, closed_at__gte=since).order_by("ticker", "closed_at")
    )
    settled_trades = [t for t in trades if t.exit_reason == "ORPHAN_SETTLED"]
    settled_rows = LiveOrphan.objects.filter(
        lane=lane, detected_at__gte=since, close_reason__startswith="ORPHAN_SETTLED"
    ).count()
    oversized = sorted(c for c in set(client_order_ids) if c.startswith(OVERSIZE_PREFIX))
    row = LivePositionState.objects.filter(lane=lane).first()
    state = row.state if row is not None else "FLAT"
    reason = (row.data or {}).get("desync_reason", "") if row is not None else ""
    close_pairs = _close_pairs(trades)
    return [
        Gate(
            "0 ORPHAN_SETTLED",
            not settled_trades and not settled_rows,
            f"{len(settled_trades)} trades, {settled_rows} orphan rows closed ORPHAN_SETTLED",
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


def _close_pairs(trades: list[Any]) -> list[str]:
    pairs = []
    for a, b in itertools.pairwise(trades):
        if a.ticker == b.ticker and b.closed_at - a.closed_at < timedelta(minutes=1):
            pairs.append(f"{a.ticker} {a.position_uid}/{b.position_uid}")
    return pairs
