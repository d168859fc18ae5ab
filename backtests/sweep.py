"""The hard-stop sweep (issue #20): the same market with the stop at several values, as
research lanes of one pass, and its counterfactual against the base stop: which exits a
different stop would have changed, and the PnL difference. Pure below ``counterfactual``.

Trades are matched by (ticker, entry time): a lane whose stop closed a position earlier or
later may enter later trades at other times (a cool-down, a position still open), so the
trades only one lane made are counted apart (``only_base``, ``only_alt``) and the whole
difference is the lanes' net PnL difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def counterfactual(base: Sequence[Any], alt: Sequence[Any]) -> dict[str, Any]:
    """``alt``'s trades against ``base``'s (both ``PositionClosed``-like, money in
    micro-dollars): the matched trades whose exit changed, and the PnL differences."""
    by_key = {(t.ticker, t.opened_ts): t for t in alt}
    changed = []
    matched = 0
    only_base = 0
    for trade in base:
        other = by_key.pop((trade.ticker, trade.opened_ts), None)
        if other is None:
            only_base += 1
            continue
        matched += 1
        if (trade.reason, trade.ts, trade.pnl) != (other.reason, other.ts, other.pnl):
            changed.append(
                {
                    "ticker": trade.ticker,
                    "opened_ts": trade.opened_ts,
                    "base_reason": trade.reason,
                    "alt_reason": other.reason,
                    "base_closed_ts": trade.ts,
                    "alt_closed_ts": other.ts,
                    "base_pnl": trade.pnl,
                    "alt_pnl": other.pnl,
                    "pnl_difference": other.pnl - trade.pnl,
                }
            )
    return {
        "matched": matched,
        "changed": changed,
        "changed_count": len(changed),
        "changed_pnl_difference": sum(c["pnl_difference"] for c in changed),
        "only_base": only_base,
        "only_alt": len(by_key),
        "net_pnl_difference": sum(t.pnl for t in alt) - sum(t.pnl for t in base),
    }
