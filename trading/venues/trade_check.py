"""A live round trip's check (domain.md §3.18): pure, no I/O.

Two diagnostics beside the trade, never instead of it (the money really moved: the trade
stays in the totals and the bankroll is not reversed):

- **Wallet drift** (BUG-025): the PnL from both legs' cash against the wallet's change
  between the read before the entry and the one after the exit; over $0.05 is flagged,
  except for a settlement (the exchange pays it on its own schedule).
- **Trade anomalies**: the position manager not FLAT after the exit, orphans held, a
  suspicious reason (``DESYNC``, ``EMERGENCY_STOP``, ``RETRY``,
  ``CONTRACT_SETTLED_VERIFY_FAILED``), no entry order id, no exit order id (a settlement
  has none), no contracts, a loss worse than −10 % of the entry cost → ``TRADE_ANOMALY:``.

The check is a plain-JSON dict (micro-dollars), a ``LiveTradeCheck`` row once stored;
``flagged`` joins the drift's text and the anomalies' ("" when nothing is wrong).
"""

from __future__ import annotations

from typing import Any

from marketdata.model.units import MICROS_PER_DOLLAR
from trading.venues.live_position import LivePosition, PositionManagerState

SETTLED_VERIFY_FAILED = "CONTRACT_SETTLED_VERIFY_FAILED"  # §3.17.6: no orphan, a trade
SETTLEMENT_REASONS = frozenset({"CONTRACT_SETTLED", "EXPIRY_409_SETTLED", SETTLED_VERIFY_FAILED})
SUSPICIOUS_REASONS = frozenset({"DESYNC", "EMERGENCY_STOP", "RETRY", SETTLED_VERIFY_FAILED})
ANOMALY_LOSS = 0.10  # a loss worse than this fraction of the entry cost
LOSS_ANOMALY = "loss "  # how that anomaly's text begins


def round_trip_check(
    *,
    lane: str,
    position: LivePosition,
    reason: str,
    state: PositionManagerState,
    wallet_after: int | None,
    drift_limit: int,
    payout: int = 0,
) -> dict[str, Any]:
    """``position`` as it ended (its legs' cash), ``reason`` the exit's, ``state`` the
    position manager's after it, ``payout`` what a settlement paid (micro-dollars)."""
    proceeds = position.exit_proceeds + payout
    pnl = proceeds - position.entry_cost - position.entry_fees - position.exit_fees
    check: dict[str, Any] = {
        "lane": lane,
        "ticker": position.ticker,
        "entry_client_order_id": position.entry_client_order_id,
        "entry_order_id": position.entry_order_id,
        "exit_order_ids": list(position.exit_order_ids),
        "reason": reason,
        "entry_cost": position.entry_cost,
        "exit_proceeds": proceeds,
        "fees": position.entry_fees + position.exit_fees,
        "pnl": pnl,
        "wallet_at_entry": position.wallet_at_entry,
        "wallet_after_exit": wallet_after,
        "wallet_pnl": None,
        "drift": None,
        "flagged": "",
        "anomalies": [],
        "fill_source": position.fill_source,
    }
    flags: list[str] = []
    if position.wallet_at_entry is not None and wallet_after is not None:
        wallet_pnl = wallet_after - position.wallet_at_entry
        drift = abs(pnl - wallet_pnl)
        check["wallet_pnl"], check["drift"] = wallet_pnl, drift
        if drift > drift_limit and reason not in SETTLEMENT_REASONS:
            flags.append(
                f"BUG-025: PnL drift ${drift / MICROS_PER_DOLLAR:.6f}"
                f" (pnl {pnl / MICROS_PER_DOLLAR:.6f},"
                f" wallet {wallet_pnl / MICROS_PER_DOLLAR:.6f})"
            )
    anomalies = trade_anomalies(position, reason, state, pnl)
    if anomalies:
        check["anomalies"] = anomalies
        flags.append("TRADE_ANOMALY: " + ", ".join(anomalies))
    check["flagged"] = "; ".join(flags)
    return check


def trade_anomalies(
    position: LivePosition, reason: str, state: PositionManagerState, pnl: int
) -> list[str]:
    """What is wrong with a live round trip, each in a few words (§3.18's list)."""
    found: list[str] = []
    if state.state != "FLAT":
        found.append(f"state {state.state}")
    if state.orphans:
        found.append(f"orphans held ({', '.join(sorted(state.orphans))})")
    if reason in SUSPICIOUS_REASONS:
        found.append(f"reason {reason}")
    if not position.entry_order_id:
        found.append("no entry order id")
    if not any(position.exit_order_ids) and reason not in SETTLEMENT_REASONS:
        found.append("no exit order id")
    if position.bought <= 0:
        found.append("zero contracts")
    elif position.entry_cost > 0 and pnl < -ANOMALY_LOSS * position.entry_cost:
        found.append(f"{LOSS_ANOMALY}{pnl / position.entry_cost:.1%} of the entry cost")
    return found


def alarming(anomalies: list[str]) -> list[str]:
    """The anomalies worth an errors notice: all but a loss alone, which is a trade (it is on
    the check row and in the post-trade review; most losing 15-minute round trips lose more
    than 10 %)."""
    return [a for a in anomalies if not a.startswith(LOSS_ANOMALY)]
