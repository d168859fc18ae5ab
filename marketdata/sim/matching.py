"""Orders against the simulated book: price-time matching, resting orders, refusals.

The engine works on the core's books (``SimCore.books``): the maker's levels plus the resting
orders of every account, so a resting order is visible to everyone as book size, and its
owner sees its ``client_order_id`` on the delta. Within one price level the maker's displayed
size trades first (it was there first: it requotes every second), then resting orders in
arrival order. A taker buying YES walks the NO bids (YES asks) from the best; selling YES or
buying NO walks the YES bids. Three ways a resting order fills, always as the maker (fee per
the series' ``fee_type``: nothing on ``quadratic``):

- another account's order crosses it;
- an anonymous public taker (the core's trade flow) reaches its level;
- the market maker's requote crosses it (its new quote is the aggressor, at the resting price).

Self-trades follow ``self_trade_prevention_type``: ``taker_at_cross`` cancels the incoming
order's remainder, ``maker`` cancels the resting one. Ids (order, fill, trade) are uuid5 of the
seed and a counter, never drawn from the market's generators, so orders never change the
market's own randomness: same seed + same order flow → same frames.

Account effects (fills, positions, cash) happen when computed, in ``clearing``; the server
releases its ``AccountEvent`` notifications and the book events at their time.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

from marketdata.model.events import BookDelta, Event, PublicTrade, Side
from marketdata.model.fees import OrderFeeAccumulator, order_fee
from marketdata.model.ticks import is_valid_order_price
from marketdata.model.units import PRICE_MAX
from marketdata.sim.clearing import Clearing
from marketdata.sim.core import SimCore
from marketdata.sim.order_types import STP, TIME_IN_FORCE, OrderError, OrderRequest, SimOrder


class MatchingEngine:
    def __init__(self, core: SimCore, clearing: Clearing, *, seed: int) -> None:
        self.core = core
        core.orders = self
        self.clearing = clearing
        self.seed = seed
        self.orders: dict[str, SimOrder] = {}
        self.by_client: dict[tuple[str, str], str] = {}
        # ticker → (side, own-space price) → resting orders in arrival order
        self.queues: dict[str, dict[tuple[Side, int], list[SimOrder]]] = {}
        self._ids = itertools.count(1)

    # --- ids and owners ------------------------------------------------------------------

    def _id(self, kind: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kbtc-sim/{self.seed}/{kind}/{next(self._ids)}"))

    def owner_of(self, ticker: str, client_order_id: str) -> str | None:
        for (user, coid), order_id in self.by_client.items():
            if coid == client_order_id and self.orders[order_id].ticker == ticker:
                return user
        return None

    # --- placing -------------------------------------------------------------------------

    def place(self, user_id: str, req: OrderRequest, ts: int) -> tuple[SimOrder, list[Event]]:
        self._validate(user_id, req, ts)
        account = self.clearing.account(user_id)
        sign = 1 if req.book_side == "bid" else -1
        opening = account.opening_count(req.ticker, sign * req.count)
        outcome = req.yes_price if sign > 0 else PRICE_MAX - req.yes_price
        # Worst case: every opening contract at the limit, the largest fee the count can pay.
        if outcome * opening + order_fee(PRICE_MAX // 2, req.count) > account.available:
            raise OrderError(400, "insufficient_balance", "insufficient balance")
        order = SimOrder(
            order_id=self._id("order"),
            user_id=user_id,
            request=req,
            client_order_id=req.client_order_id,
            yes_price=req.yes_price,
            initial=req.count,
            remaining=req.count,
            created_ts=ts,
            updated_ts=ts,
            fees=OrderFeeAccumulator(self.core.fee_type, self.core.fee_multiplier),
        )
        if req.post_only and self._fillable(order) > 0:
            raise OrderError(400, "post_only_cross", "post-only order would cross")
        self.orders[order.order_id] = order
        if req.client_order_id:
            self.by_client[(user_id, req.client_order_id)] = order.order_id
        events: list[Event] = []
        if req.reduce_only:
            # Only the part that moves the position towards zero may trade; with nothing to
            # reduce the order ends canceled unfilled (201: the exchange's exact answer is
            # undocumented, protocols §2), never opening the other side.
            order.remaining = req.count - opening
            if not order.remaining:
                order.status = "canceled"
                self.clearing.notify_order(order, ts)
                return order, events
        if req.time_in_force == "fill_or_kill" and self._fillable(order) < order.remaining:
            # Cannot fill whole: nothing trades, the order ends canceled (201, not an error;
            # the exchange's exact answer here is undocumented).
            order.status = "canceled"
            order.remaining = 0
            self.clearing.notify_order(order, ts)
            return order, events
        self._take(order, ts, events)
        if order.status == "canceled":
            order.remaining = 0  # self-trade prevention cancelled the rest at the cross
        if order.remaining and order.status == "resting":
            if req.time_in_force == "good_till_canceled":
                self._rest(order, ts, events)
            else:
                order.remaining = 0
                order.status = "canceled"
        if order.status == "resting" and not order.remaining:
            order.status = "executed"
        self.clearing.notify_order(order, ts)
        return order, events

    def _validate(self, user_id: str, req: OrderRequest, ts: int) -> None:
        if req.time_in_force not in TIME_IN_FORCE:
            raise OrderError(400, "invalid_parameters", "invalid time_in_force")
        if req.self_trade_prevention_type not in STP:
            raise OrderError(400, "invalid_parameters", "invalid self_trade_prevention_type")
        if req.count <= 0:
            raise OrderError(400, "invalid_parameters", "count must be positive")
        if not is_valid_order_price(req.yes_price):
            raise OrderError(400, "invalid_price", "invalid price")
        if req.client_order_id and (user_id, req.client_order_id) in self.by_client:
            raise OrderError(409, "order_already_exists", "client_order_id already used")
        market = self.core.schedule.by_ticker(req.ticker, ts)
        if market is None:
            raise OrderError(404, "market_not_found", "market not found")
        if market.phase(ts) != "open" or req.ticker not in self.core.books:
            # 409 market_closed: third-party incident notes and the bot (protocols §7 point 5).
            raise OrderError(409, "market_closed", "market is not open for trading")

    def _opposite(self, order: SimOrder) -> tuple[Side, int]:
        """The side an order takes from and the lowest own-space price it may take."""
        if order.is_bid:
            return "no", PRICE_MAX - order.yes_price
        return "yes", order.yes_price

    def _participants(
        self, order: SimOrder, side: Side, price: int
    ) -> Iterator[tuple[SimOrder | None, int]]:
        maker = self.core.makers.get(order.ticker)
        shown = maker.shown[side].get(price, 0) if maker is not None else 0
        if shown:
            yield None, shown
        for resting in list(self.queues.get(order.ticker, {}).get((side, price), [])):
            yield resting, resting.remaining

    def _levels(self, order: SimOrder) -> list[int]:
        side, floor = self._opposite(order)
        yes, no = self.core.books[order.ticker].snapshot_levels()
        rows = yes if side == "yes" else no
        return [price for price, _ in reversed(rows) if price >= floor]

    def _fillable(self, order: SimOrder) -> int:
        side, _ = self._opposite(order)
        total = 0
        for price in self._levels(order):
            for resting, size in self._participants(order, side, price):
                if resting is not None and resting.user_id == order.user_id:
                    if order.request.self_trade_prevention_type == "taker_at_cross":
                        return total
                    continue
                total += size
        return total

    def _take(self, order: SimOrder, ts: int, events: list[Event]) -> None:
        side, _ = self._opposite(order)
        book = self.core.books[order.ticker]
        taker_side: Side = "yes" if order.is_bid else "no"
        for price in self._levels(order):
            yes_price = PRICE_MAX - price if order.is_bid else price
            for resting, size in self._participants(order, side, price):
                if not order.remaining:
                    return
                if resting is not None and resting.user_id == order.user_id:
                    if order.request.self_trade_prevention_type == "taker_at_cross":
                        order.status = "canceled"  # the remainder is cancelled at the cross
                        return
                    self._cancel_resting(resting, ts, events)
                    continue
                take = min(size, order.remaining)
                coid = None
                if resting is None:
                    self.core.makers[order.ticker].consume(side, price, take)
                else:
                    self.clearing.fill(resting, yes_price, take, False, ts, self._id("fill"))
                    coid = resting.client_order_id or None
                    self._after_resting_fill(resting, take)
                book.apply_delta(side, price, -take, ts)
                events.append(BookDelta(ts, order.ticker, side, price, -take, coid))
                events.append(self._trade(order.ticker, yes_price, take, taker_side, ts))
                self.clearing.fill(order, yes_price, take, True, ts, self._id("fill"))

    def _trade(self, ticker: str, yes_price: int, count: int, taker: Side, ts: int) -> PublicTrade:
        return PublicTrade(ts, ticker, yes_price, count, taker, self._id("trade"))

    # --- resting orders ------------------------------------------------------------------

    def _rest(self, order: SimOrder, ts: int, events: list[Event]) -> None:
        key = (order.rest_side, order.rest_price)
        self.queues.setdefault(order.ticker, {}).setdefault(key, []).append(order)
        self.core.books[order.ticker].apply_delta(key[0], key[1], order.remaining, ts)
        coid = order.client_order_id or None
        events.append(BookDelta(ts, order.ticker, key[0], key[1], order.remaining, coid))
        self._reserve(order)

    def _unqueue(self, order: SimOrder) -> None:
        queue = self.queues.get(order.ticker, {}).get((order.rest_side, order.rest_price))
        if queue is not None and order in queue:
            queue.remove(order)
            if not queue:
                del self.queues[order.ticker][(order.rest_side, order.rest_price)]

    def _reserve(self, order: SimOrder) -> None:
        account = self.clearing.account(order.user_id)
        account.reserved -= order.reserved
        order.reserved = 0
        if order.status == "resting" and order.remaining:
            sign = 1 if order.is_bid else -1
            opening = account.opening_count(order.ticker, sign * order.remaining)
            maker_fee = order_fee(
                PRICE_MAX // 2,
                order.remaining,
                is_taker=False,
                fee_type=self.core.fee_type,
                multiplier=self.core.fee_multiplier,
            )
            order.reserved = order.outcome_price(order.yes_price) * opening + maker_fee
        account.reserved += order.reserved

    def _after_resting_fill(self, order: SimOrder, take: int) -> None:
        if not order.remaining:
            order.status = "executed"
            self._unqueue(order)
        self._reserve(order)
        self.clearing.notify_order(order, order.updated_ts)

    def _cancel_resting(
        self, order: SimOrder, ts: int, events: list[Event], by: int | None = None
    ) -> int:
        """Take ``by`` (default: all) off a resting order's remainder; returns the reduction."""
        reduced = order.remaining if by is None else min(by, order.remaining)
        if not reduced:
            return 0
        order.remaining -= reduced
        side, price = order.rest_side, order.rest_price
        self.core.books[order.ticker].apply_delta(side, price, -reduced, ts)
        events.append(
            BookDelta(ts, order.ticker, side, price, -reduced, order.client_order_id or None)
        )
        if not order.remaining:
            order.status = "canceled"
            self._unqueue(order)
        order.updated_ts = ts
        self._reserve(order)
        self.clearing.notify_order(order, ts)
        return reduced

    def cancel(self, user_id: str, order_id: str, ts: int) -> tuple[SimOrder, int, list[Event]]:
        order = self.owned(user_id, order_id)
        if order.status != "resting":
            raise OrderError(404, "not_found", "order is not resting")
        events: list[Event] = []
        return order, self._cancel_resting(order, ts, events), events

    def decrease(
        self, user_id: str, order_id: str, reduce_by: int, ts: int
    ) -> tuple[SimOrder, list[Event]]:
        order = self.owned(user_id, order_id)
        if order.status != "resting":
            raise OrderError(404, "not_found", "order is not resting")
        if reduce_by <= 0:
            raise OrderError(400, "invalid_parameters", "nothing to reduce")
        events: list[Event] = []
        self._cancel_resting(order, ts, events, reduce_by)
        return order, events

    def amend(
        self,
        user_id: str,
        order_id: str,
        yes_price: int,
        total: int,
        ts: int,
        new_client_order_id: str | None = None,
    ) -> tuple[SimOrder, list[Event]]:
        """New price and total count (filled + remaining). Same price and a smaller count
        keeps the queue place; anything else re-enters at the back and may trade."""
        order = self.owned(user_id, order_id)
        if order.status != "resting":
            raise OrderError(404, "not_found", "order is not resting")
        if not is_valid_order_price(yes_price):
            raise OrderError(400, "invalid_price", "invalid price")
        if total <= order.filled:
            raise OrderError(400, "invalid_parameters", "count must exceed the filled count")
        events: list[Event] = []
        if new_client_order_id and new_client_order_id != order.client_order_id:
            if (user_id, new_client_order_id) in self.by_client:
                raise OrderError(409, "order_already_exists", "client_order_id already used")
            self.by_client[(user_id, new_client_order_id)] = order.order_id
            order.client_order_id = new_client_order_id
        wanted = total - order.filled
        if yes_price == order.yes_price and wanted <= order.remaining:
            self._cancel_resting(order, ts, events, order.remaining - wanted)
            return order, events
        self._cancel_resting(order, ts, events)
        order.status, order.yes_price, order.remaining = "resting", yes_price, wanted
        order.initial = total
        self._take(order, ts, events)
        if order.status == "canceled":
            order.remaining = 0
        if order.remaining and order.status == "resting":
            self._rest(order, ts, events)
        elif order.status == "resting":
            order.status = "executed"
        self.clearing.notify_order(order, ts)
        return order, events

    def owned(self, user_id: str, order_id: str) -> SimOrder:
        order = self.orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise OrderError(404, "not_found", "order not found")
        return order

    # --- hooks the core calls ------------------------------------------------------------

    def resting_size(self, ticker: str, side: Side, price: int) -> int:
        return sum(o.remaining for o in self.queues.get(ticker, {}).get((side, price), []))

    def fill_resting(self, ticker: str, side: Side, price: int, count: int, ts: int) -> list[Event]:
        """An anonymous taker (the core's trade flow) takes ``count`` from resting orders."""
        events: list[Event] = []
        yes_price = price if side == "yes" else PRICE_MAX - price
        for order in list(self.queues.get(ticker, {}).get((side, price), [])):
            if not count:
                break
            take = min(count, order.remaining)
            self.clearing.fill(order, yes_price, take, False, ts, self._id("fill"))
            self._after_resting_fill(order, take)
            self.core.books[ticker].apply_delta(side, price, -take, ts)
            events.append(BookDelta(ts, ticker, side, price, -take, order.client_order_id or None))
            count -= take
        return events

    def after_requote(self, ticker: str, ts: int) -> list[Event]:
        """The maker's new quote crosses resting orders: they fill at their own price."""
        queues = self.queues.get(ticker)
        maker = self.core.makers.get(ticker)
        if not queues or maker is None:
            return []
        events: list[Event] = []
        book = self.core.books[ticker]
        for (side, price), queue in sorted(queues.items(), key=lambda kv: -kv[0][1]):
            other: Side = "no" if side == "yes" else "yes"
            yes_price = price if side == "yes" else PRICE_MAX - price
            for order in list(queue):
                for level in sorted(maker.shown[other], reverse=True):
                    if level + price < PRICE_MAX or not order.remaining:
                        break
                    take = min(order.remaining, maker.shown[other][level])
                    maker.consume(other, level, take)
                    book.apply_delta(other, level, -take, ts)
                    events.append(BookDelta(ts, ticker, other, level, -take))
                    self.clearing.fill(order, yes_price, take, False, ts, self._id("fill"))
                    self._after_resting_fill(order, take)
                    book.apply_delta(side, price, -take, ts)
                    coid = order.client_order_id or None
                    events.append(BookDelta(ts, ticker, side, price, -take, coid))
                    events.append(self._trade(ticker, yes_price, take, other, ts))
        return events

    def close_market(self, ticker: str, ts: int) -> list[Event]:
        """At close every resting order is cancelled (its size leaves the book)."""
        events: list[Event] = []
        for queue in list(self.queues.get(ticker, {}).values()):
            for order in list(queue):
                self._cancel_resting(order, ts, events)
        self.queues.pop(ticker, None)
        return events
