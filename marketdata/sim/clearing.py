"""The simulator's accounts seen from its matching engine: what a fill does beyond the book.

A fill charges the order's fee (``OrderFeeAccumulator``: rounding per order, interfaces.md
§6), adds to the order's totals, moves the account's cash and position (``ledger``) and
queues the owner's private notifications: WS ``fill`` and ``market_positions``, and
``user_orders`` for every change of an order. The server releases ``outbox`` at each
notification's time; settlement queues the positions it closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marketdata.model.events import Side
from marketdata.sim.account_wire import fill_ws, order_ws, position_ws
from marketdata.sim.ledger import Account, AccountEvent, FillRecord

if TYPE_CHECKING:
    from marketdata.sim.order_types import SimOrder


class Clearing:
    def __init__(self, opening_balance_micros: int) -> None:
        self.opening_balance = opening_balance_micros
        self.accounts: dict[str, Account] = {}
        self.outbox: list[AccountEvent] = []

    def account(self, user_id: str) -> Account:
        """The account of an API key, opened with the opening balance on first use."""
        found = self.accounts.get(user_id)
        if found is None:
            found = self.accounts[user_id] = Account(user_id, self.opening_balance)
        return found

    def fill(
        self, order: SimOrder, yes_price: int, count: int, is_taker: bool, ts: int, fill_id: str
    ) -> None:
        fee = order.fees.charge(yes_price, count, is_taker=is_taker)
        cost = order.outcome_price(yes_price) * count
        order.filled += count
        order.remaining -= count
        order.fill_value += yes_price * count
        order.updated_ts = ts
        if is_taker:
            order.taker_cost += cost
            order.taker_fees += fee
        else:
            order.maker_cost += cost
            order.maker_fees += fee
        account = self.account(order.user_id)
        sign = 1 if order.is_bid else -1
        account.apply_fill(order.ticker, sign * count, yes_price, fee, ts)
        position = account.position(order.ticker)
        record = FillRecord(
            fill_id=fill_id,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            user_id=order.user_id,
            ticker=order.ticker,
            book_side=order.request.book_side,
            side=order.request.side,
            action=order.request.action,
            yes_price=yes_price,
            count=count,
            fee=fee,
            is_taker=is_taker,
            ts=ts,
            post_position=position.position,
        )
        account.fills.append(record)
        self.outbox.append(AccountEvent(ts, order.user_id, "fill", order.ticker, fill_ws(record)))
        self.outbox.append(
            AccountEvent(
                ts,
                order.user_id,
                "market_positions",
                order.ticker,
                position_ws(position, order.user_id),
            )
        )

    def notify_order(self, order: SimOrder, ts: int) -> None:
        self.outbox.append(
            AccountEvent(ts, order.user_id, "user_orders", order.ticker, order_ws(order))
        )

    def settle(self, ticker: str, event_ticker: str, result: Side, ts: int) -> None:
        for account in self.accounts.values():
            if account.settle(ticker, event_ticker, result, ts) is not None:
                position = account.position(ticker)
                msg = position_ws(position, account.user_id)
                self.outbox.append(
                    AccountEvent(ts, account.user_id, "market_positions", ticker, msg)
                )
