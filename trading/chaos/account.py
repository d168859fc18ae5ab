"""The simulator's account against what the live lane stored: cash, fills, positions,
orders. Read at the end of a run (the trader stopped), so both sides are final.

- ``money``: entry cost, exit cash (sold + settled), fees and PnL of the stored live trades
  against the account's fills and settlements, to the micro-dollar: a fill the trader lost
  (or booked twice) shows as a difference.
- ``duplicate_orders``: client order ids the exchange saw more than once.
- ``duplicate_trades``: two live trades of one entry order (its client order id).
- ``untracked``: positions the account holds that the durable state tracks neither as its
  position nor as an orphan.
- ``bankroll``: the live lane's stored bankroll against the account's cash.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marketdata.model.units import MICROS_PER_CENT, MICROS_PER_DOLLAR, PRICE_MAX
from marketdata.sim.ledger import Account
from trading.engine.records import HANDED_OFF


def micros(value: Decimal) -> int:
    return int(value * MICROS_PER_DOLLAR)


@dataclass(frozen=True)
class FillCash:
    """What the account's fills and settlements moved, in micro-dollars."""

    bought: int  # premium paid for fills that moved the position away from zero
    sold: int  # premium received for fills towards zero
    fees: int
    settled: int  # settlement revenue


def fill_cash(account: Account, ticker: str | None = None) -> FillCash:
    """What the account's fills and settlements moved (``ticker``: in that market only)."""
    fills = [f for f in account.fills if ticker is None or f.ticker == ticker]
    # A fill that moved the position away from zero bought (a bid buys YES, an ask buys NO);
    # one towards zero sold the held side. Cash per contract is the held side's price.
    bought = sold = fees = 0
    for f in fills:
        before = f.post_position - (f.count if f.book_side == "bid" else -f.count)
        opening = abs(f.post_position) > abs(before)
        yes_held = f.post_position > 0 if opening else before > 0
        premium = f.yes_price if yes_held else PRICE_MAX - f.yes_price
        if opening:
            bought += premium * f.count
        else:
            sold += premium * f.count
        fees += f.fee
    settled = sum(
        s.revenue_cents for s in account.settlements if ticker is None or s.ticker == ticker
    )
    settled *= 10_000
    return FillCash(bought=bought, sold=sold, fees=fees, settled=settled)


@dataclass
class AccountCheck:
    opening: int  # the account's cash before the run (micro-dollars)
    cash: int
    fills: int
    settlements: int
    stored_trades: int
    exchange: FillCash
    stored_cost: int
    stored_proceeds: int
    stored_fees: int
    stored_pnl: int
    bankroll: int | None  # the live lane's stored bankroll (micro-dollars), None: no row
    held: dict[str, int]  # ticker → signed hundredths the account still holds
    untracked: dict[str, int]
    duplicate_orders: list[str]
    duplicate_trades: list[str]
    failures: list[str] = field(default_factory=list)

    @property
    def lost_fills(self) -> int:
        """Micro-dollars of fills and settlements the stored trades do not account for
        (cost + proceeds + fees, absolute differences)."""
        ex = self.exchange
        return (
            abs(self.stored_cost - ex.bought)
            + abs(self.stored_proceeds - (ex.sold + ex.settled))
            + abs(self.stored_fees - ex.fees)
        )

    @property
    def bankroll_difference(self) -> int | None:
        """Against the balance as the exchange quotes it: whole cents, rounded down."""
        if self.bankroll is None:
            return None
        return self.bankroll - self.cash // MICROS_PER_CENT * MICROS_PER_CENT

    def summary(self) -> dict[str, Any]:
        ex = self.exchange
        return {
            "trades": self.stored_trades,
            "fills": self.fills,
            "settlements": self.settlements,
            "entry_cost": {"stored": self.stored_cost, "exchange": ex.bought},
            "exit_cash": {"stored": self.stored_proceeds, "exchange": ex.sold + ex.settled},
            "fees": {"stored": self.stored_fees, "exchange": ex.fees},
            "pnl": {"stored": self.stored_pnl, "cash_change": self.cash - self.opening},
            "lost_fills_micros": self.lost_fills,
            "bankroll_difference_micros": self.bankroll_difference,
            "held": self.held,
            "untracked": self.untracked,
            "duplicate_orders": self.duplicate_orders,
            "duplicate_trades": self.duplicate_trades,
            "failures": self.failures,
        }


def check_account(
    account: Account,
    *,
    opening: int,
    client_order_ids: Iterable[str],
    trades: Iterable[Any],
    state: dict[str, Any] | None,
    bankroll: Decimal | None,
) -> AccountCheck:
    """Compare ``account`` (the simulator's) with the stored live ``trades`` (``Trade``
    rows), the durable position state's ``data`` and the lane's stored ``bankroll``.
    ``client_order_ids``: of every order the account placed."""
    # A position the venue took from the lane (a ghost, an exit that never sold) is an
    # errored row with no PnL; what the exchange did with its contracts is booked by the
    # orphan's own trade, or by nothing (a ghost): counting its cost again would be wrong.
    trades = [t for t in trades if t.fill_source != HANDED_OFF]
    cash = fill_cash(account)
    held = {t: p.position for t, p in account.positions.items() if p.position}
    tracked: set[str] = set((state or {}).get("orphans") or {})
    position = (state or {}).get("position")
    if position:
        tracked.add(position["ticker"])
    seen = Counter(client_order_ids)
    entries = Counter(t.entry_client_order_id for t in trades if t.entry_client_order_id)
    check = AccountCheck(
        opening=opening,
        cash=account.cash,
        fills=len(account.fills),
        settlements=len(account.settlements),
        stored_trades=len(trades),
        exchange=cash,
        stored_cost=sum(micros(t.entry_cost) for t in trades),
        stored_proceeds=sum(micros(t.exit_proceeds) for t in trades),
        stored_fees=sum(micros(t.fees) for t in trades),
        stored_pnl=sum(micros(t.pnl) for t in trades),
        bankroll=None if bankroll is None else micros(bankroll),
        held=held,
        untracked={t: n for t, n in held.items() if t not in tracked},
        duplicate_orders=sorted(c for c, n in seen.items() if n > 1),
        duplicate_trades=sorted(c for c, n in entries.items() if n > 1),
    )
    failures = check.failures
    if check.untracked:
        failures.append(f"unexplained exchange positions (untracked): {check.untracked}")
    if check.duplicate_orders:
        failures.append(f"duplicate orders: {check.duplicate_orders}")
    if check.duplicate_trades:
        failures.append(f"duplicate trades of one entry order: {check.duplicate_trades}")
    if check.lost_fills:
        failures.append(
            f"fills and stored trades differ by {check.lost_fills} micro-dollars"
            f" (cost {check.stored_cost} vs {cash.bought}, exit cash {check.stored_proceeds}"
            f" vs {cash.sold + cash.settled}, fees {check.stored_fees} vs {cash.fees})"
        )
    if check.lost_fills:
        failures.extend(_per_ticker(account, trades))
    if check.stored_pnl != check.cash - opening and not check.held:
        failures.append(
            f"stored PnL {check.stored_pnl} != cash change {check.cash - opening} micro-dollars"
        )
    if check.bankroll_difference:
        failures.append(
            f"live bankroll {check.bankroll} != exchange balance {check.cash}"
            f" ({check.bankroll_difference:+} micro-dollars)"
        )
    return check


def _per_ticker(account: Account, trades: list[Any]) -> list[str]:
    """Where the stored trades and the account differ, market by market."""
    tickers = sorted({f.ticker for f in account.fills} | {t.ticker for t in trades})
    lines = []
    for ticker in tickers:
        ex = fill_cash(account, ticker)
        mine = [t for t in trades if t.ticker == ticker]
        stored = (
            sum(micros(t.entry_cost) for t in mine),
            sum(micros(t.exit_proceeds) for t in mine),
            sum(micros(t.fees) for t in mine),
        )
        exchange = (ex.bought, ex.sold + ex.settled, ex.fees)
        if stored != exchange:
            lines.append(
                f"  {ticker}: stored (cost, exit cash, fees) {stored} in {len(mine)} trades"
                f" {[t.exit_reason for t in mine]}, exchange {exchange}"
            )
    return lines
