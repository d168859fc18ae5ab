"""The Kalshi venue: the live lane's orders on a real (or simulated) exchange account.

The driver's side (``submit``, ``on_event``, ``next_due_ts``, ``execute_due``) never waits:
an intent starts an asyncio task on the daemon's loop, and what the task learns comes
back as ``VenueReport``s from the next ``on_event``/``execute_due`` (the report inbox).
All order operations hold one lock (domain.md §3.17.1): entry, exit, settlement,
emergency close, close-all, resolution of an unknown order.

- **Entry** (§3.17.2): the exchange must be flat on the ticker (signed position read; a
  position or a failed read → DESYNC); the wallet is read before the order (BUG-027);
  the order is a limit immediate-or-cancel buy at the engine's limit (the ask plus the
  lane's ``live_entry_slippage``), never a market order, with the engine's
  ``client_order_id``. What filled is read from the authenticated fill stream first
  (``OwnFill`` events with the order's id, waited for ``fill_wait_s``), then REST fills of
  the order, then the order's own fields; after the ledger lag the signed position is
  verified (3 tries) and the exchange count is the truth: a mismatch is DESYNC. Nothing
  filled → FLAT and a 30 s cooldown on the ticker.
- **Exit** (§3.17.3, §3.17.4): reduce-only immediate-or-cancel sells of the held side, at
  the 1 ¢ floor (for ``EXPIRY_GUARD``/``SHORT_SETTLEMENT_GUARD``: the expiry floor
  schedule, the last attempt at 1 ¢), up to ``exit_attempts`` with backoff ``min(8, 2^n)``
  s, keeping the original reason and floor schedule. A 409 reads the market: closed →
  the exit ends ``market_closed`` and the position waits for settlement (no retry storm,
  BUG-017; that settlement is labelled ``EXPIRY_409_SETTLED``). Verified against
  the signed position (BUG-019); part sold → PARTIAL_EXIT (the engine's next exit takes
  the rest); all → FLAT, a round trip, a 90 s cooldown, the wallet drift check (§3.18).
  An exit of any reason that sells nothing in all its attempts (§3.17.3's coordinator
  wrapper, BUG-031) hands the whole position to the orphan path (cause
  ``EMERGENCY_STOP`` or ``EXIT_FAILED``): FLAT, entries blocked, errors notified.
- **The engine told** (``PositionCorrection``): whenever the tracked position changes
  without fills (a desync's exchange count, an orphaned exit, reconciliation) and at start
  (``start``: the durable state wins over the engine's restored position); and the
  account's cash (``sync_balance``: a ``BalanceSync``) after every exit that sold, every
  orphaning, orphan close, ghost or recount, close-all, and at start, so the live bankroll
  is the exchange's.
- **What the durable state missed** (#23, a failed write and a kill): at start the lane's
  own sales of the durable position that the exchange shows and the state does not are
  booked as its exit (``_restore_missed_exits``), and the last round trip is told the
  engine again (``_retell_last``), whose saved state may predate it, as is an open
  position's entry (``_retell_entry``) and every attempt of an exit killed at its retry
  (``_exit_attempts``). A position whose market closed while the trader was down is
  settled before any exit of the new run (``_settle_closed``): an exit there would go to
  a market that no longer trades.
- **Unknown outcomes**: a create whose answer is lost and that the REST client could not
  find again (``OrderOutcomeUnknown``) blocks the venue (state stays ENTERING/EXITING,
  ``unresolved`` set and persisted) until a lookup by ``client_order_id`` that *succeeds*
  finds it (its fills are used) or does not (not placed). Never a second order for one
  intent.
- **Settlement** (§3.17.6): a ``MarketStatus`` with a result on the held ticker verifies
  the exchange is flat, then FLAT, a round trip, the ticker settled, and the engine is
  told (``PositionSettled``): it books the payout under ``CONTRACT_SETTLED``,
  ``EXPIRY_409_SETTLED``, or ``CONTRACT_SETTLED_VERIFY_FAILED`` when every position read
  failed (incident 451/454: no orphan then). What the exchange still holds after the
  result is adopted as an orphan (counted; the lane's trade is booked all the same and
  the orphan's close deduplicated against it).

Times, timeouts, polls and backoffs run on the injected ``VenueClock``: wall time against
the real exchange, event time (the stream's clock) against the simulator, so a run at any
speed behaves as at 1×. Every state change is persisted (``persist``, a database row)
before the next network write.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import structlog

from marketdata.kalshi.account_wire import CreatedOrder, book_side_for
from marketdata.kalshi.errors import KalshiConflict, KalshiError, OrderOutcomeUnknown
from marketdata.kalshi.rest import KalshiRestClient
from marketdata.model.events import Event, MarketStatus, OrderUpdate, OwnFill, Side
from marketdata.model.units import MICROS_PER_DOLLAR, PRICE_MAX
from trading.engine.intents import (
    BalanceSync,
    CancelOrder,
    ClosePosition,
    Intent,
    OrderRestored,
    PlaceOrder,
    PositionCorrection,
    PositionSettled,
)
from trading.venues.base import VenueReport
from trading.venues.live_position import (
    EXIT_COOLDOWN_MS,
    PHANTOM_COOLDOWN_MS,
    LivePosition,
    PositionManagerState,
    Unresolved,
)
from trading.venues.trade_check import SETTLED_VERIFY_FAILED, alarming, round_trip_check

log = structlog.get_logger(__name__)

EXPIRY_REASONS = frozenset({"EXPIRY_GUARD", "SHORT_SETTLEMENT_GUARD"})
CLOSED_PHASES = frozenset({"closed", "determined", "finalized"})
# The label of an exit booked at start from the exchange's fills when neither the durable
# state nor the engine's saved state knows its reason (``_restore_missed_exits``).
MISSED_EXIT = "EXIT_RESTORED"
_RETRY_SUFFIX = re.compile(r"-r\d+$")  # an exit's retries: the engine's id plus -r1, -r2
_NONE: tuple[VenueReport, ...] = ()


# --- the clock ---------------------------------------------------------------------------


class VenueClock(Protocol):
    def now_ms(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...

    async def backoff(self, seconds: float) -> None: ...

    def advance(self, ts: int) -> None: ...


class WallClock:
    """Against the real exchange: wall time."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def backoff(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def advance(self, ts: int) -> None:
        return None


class EventClock:
    """Against the simulator: the stream's event time. ``sleep(s)`` returns once an event
    at least ``s`` seconds later than "now" has been seen, so the venue waits the same
    simulated time at any speed (the driver calls ``advance`` with every event)."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms
        self._sleepers: list[tuple[int, asyncio.Future[None]]] = []

    def now_ms(self) -> int:
        return self._now

    def advance(self, ts: int) -> None:
        if ts <= self._now:
            return
        self._now = ts
        if self._sleepers:
            due = [(t, f) for t, f in self._sleepers if t <= ts]
            self._sleepers = [(t, f) for t, f in self._sleepers if t > ts]
            for _, future in due:
                if not future.done():
                    future.set_result(None)

    async def sleep(self, seconds: float) -> None:
        target = self._now + max(0, int(seconds * 1000))
        if target <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((target, future))
        await future

    async def backoff(self, seconds: float) -> None:
        """A retry's wait (the REST client's): ``seconds`` of event time, or as long in
        wall time if no event ends it first. Before the feeds run (a start's reads) no
        event comes, and a simulator that steps its clock only once the trader has caught
        up would wait for the trader forever (#23: a 503 on the start's balance read)."""
        try:
            await asyncio.wait_for(self.sleep(seconds), timeout=max(seconds, 0.01))
        except TimeoutError:
            return


# --- settings and side effects -----------------------------------------------------------


@dataclass(frozen=True)
class LiveSettings:
    fill_wait_s: float = 2.0  # §3.17.9: fill stream drain
    ledger_lag_s: float = 1.5  # §3.17.2 step 8
    verify_attempts: int = 3
    verify_backoff_s: float = 1.5  # × attempt
    exit_attempts: int = 3  # EXPIRY_RETRY_MAX_ATTEMPTS
    expiry_first_floor_cents: int = 1
    expiry_widen_step_cents: int = 0
    expiry_final_attempt_max_aggressive: bool = True
    resolve_poll_s: float = 1.0
    drift_limit: int = 50_000  # $0.05 (BUG-025)


def expiry_floor_cents(settings: LiveSettings, attempt: int) -> int:
    """§3.17.4: attempt ``k`` (0-based) sells down to this floor; the last at 1 ¢."""
    last = attempt == settings.exit_attempts - 1
    if last and settings.expiry_final_attempt_max_aggressive:
        return 1
    floor = settings.expiry_first_floor_cents - settings.expiry_widen_step_cents * attempt
    return max(1, min(99, floor))


Persist = Callable[[dict[str, Any]], Awaitable[None]]
RecordCheck = Callable[[dict[str, Any]], Awaitable[None]]
Notify = Callable[[str, str], Awaitable[None]]  # (channel, text)


async def _no_persist(data: dict[str, Any]) -> None:
    return None


async def _no_notify(channel: str, text: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class _Fills:
    fills: tuple[OwnFill, ...]
    source: str

    @property
    def count(self) -> int:
        return sum(f.count for f in self.fills)


# --- the venue ---------------------------------------------------------------------------


class KalshiVenue:
    name = "kalshi"

    def __init__(
        self,
        rest: KalshiRestClient,
        *,
        lane: str = "live",
        clock: VenueClock | None = None,
        state: PositionManagerState | None = None,
        persist: Persist = _no_persist,
        record_check: RecordCheck | None = None,
        settings: LiveSettings | None = None,
        trade_limit: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.rest = rest
        self.lane = lane
        self.clock: VenueClock = clock or WallClock()
        self.state = state or PositionManagerState()
        self.persist = persist
        self.record_check = record_check
        self.settings = settings or LiveSettings()
        self.trade_limit = trade_limit
        self.lock = asyncio.Lock()
        self.inbox: list[VenueReport] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.errors: list[str] = []  # task failures (health)
        self.checks: list[dict[str, Any]] = []  # wallet checks and anomalies, newest last
        self._fills: OrderedDict[str, list[OwnFill]] = OrderedDict()  # order_id → fills
        self._fill_seen: set[str] = set()
        self._fill_waiters: list[asyncio.Event] = []
        self._claimed = False  # an entry accepted on the driver side, its task not done
        self._pending_coids: set[str] = set()  # engine orders the venue is working on
        self._closed_at_start: set[str] = set()  # its market closed, no result yet (start)
        # Entry refusals from outside (#22: reconciliation not passed yet): "" = allowed.
        self.entry_gates: list[Callable[[], str]] = []
        # Operator notifications (the errors channel); the live safety wiring sets it.
        self.notify: Notify = _no_notify

    @property
    def exchange_run(self) -> int:
        return self.state.starts

    def own_client_order_id(self, purpose: str, ticker: str) -> str:
        """An id for an order of the venue's own (an orphan sale, close-all): this run's,
        like the engine's (``Engine.trade_on_exchange``), so a restart with the clock held
        never sends one the exchange has seen."""
        return f"kbtc-{purpose}-s{self.state.starts}-{ticker}-{self.clock.now_ms()}"

    # --- the driver's side ----------------------------------------------------------------

    def submit(self, intent: Intent) -> Sequence[VenueReport]:
        if isinstance(intent, CancelOrder):
            # Every order is immediate-or-cancel: it ends by itself, and an order whose
            # outcome is unknown must be found, not cancelled blind.
            return _NONE
        if isinstance(intent, PlaceOrder):
            refusal = self._claimed and "an order operation is in progress"
            refusal = refusal or self.state.entry_refusal(
                intent.ticker, self.clock.now_ms(), self.trade_limit()
            )
            if self.lock.locked():
                refusal = refusal or "an order operation is in progress"
            for gate in self.entry_gates:
                refusal = refusal or gate()
            if refusal:
                log.info("live_entry_refused", ticker=intent.ticker, reason=refusal)
                return [self._ended(intent, "buy", 0, f"refused: {refusal}")]
            self._claimed = True
            self._pending_coids.add(intent.client_order_id)
            self._spawn(self._enter(intent))
            return _NONE
        if self._closed_for_exits(intent.ticker):
            return [self._ended(intent, "sell", 0, "market_closed")]
        self._pending_coids.add(intent.client_order_id)
        self._spawn(self._exit(intent))
        return _NONE

    def next_due_ts(self) -> int | None:
        return 0 if self.inbox else None

    def execute_due(self, now: int) -> Sequence[VenueReport]:
        return self._drain()

    def on_event(self, event: Event) -> Sequence[VenueReport]:
        self.clock.advance(event.ts)
        if isinstance(event, OwnFill):
            self._on_fill(event)
        elif isinstance(event, MarketStatus) and event.result is not None:
            position = self.state.position
            if position is not None and position.ticker == event.ticker:
                self._spawn(self._settle(event.ticker, event.result))
        return self._drain()

    def snapshot(self) -> dict[str, Any]:
        # The position manager's own row is the durable copy (every transition); this is
        # for the operator reading a session snapshot.
        return {"state": self.state.to_dict()}

    def restore(self, state: Any) -> None:
        return None  # restored from its row (``trading.runtime.live``), not the snapshot

    # --- operator actions (called by the daemon between events) ---------------------------

    def close_exchange_positions(self, *, exclude: frozenset[str] = frozenset()) -> None:
        """Close-all (§3.17.10): sell every non-zero exchange position at the 1 ¢ floor,
        except ``exclude`` (the lane's own position, which the engine exits)."""
        self._spawn(self._close_exchange_positions(exclude))

    def start(self) -> None:
        """At start, once the engine is restored: the order in flight when the last run
        stopped is looked up and what it did is booked (``_resolve_restored``); then the
        engine hears the durable state's position (it wins over the engine's own
        snapshot), that no order of the last run is still worked on, and the account's
        cash."""
        self._spawn(self._start())

    async def _start(self) -> None:
        async with self.lock:  # first: before any order of this run, and reconciliation
            await self._resolve_restored()
            await self._restore_missed_exits()
            await self._retell_last()
            await self._retell_entry()
            await self._settle_closed()
            position = self.state.position
            working = frozenset(self._pending_coids)  # this run's, waiting for the lock
            if position is None:
                self._correct("", 0, "RESTORED", working)
            else:
                self._correct(position.ticker, position.count, "RESTORED", working)
            await self.sync_balance()

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # --- plumbing -------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self.errors.append(f"{type(error).__name__}: {error}")
            del self.errors[:-20]
            log.error("live_venue_task_failed", error=str(error), exc_info=error)

    def _drain(self) -> Sequence[VenueReport]:
        if not self.inbox:
            return _NONE
        out, self.inbox = self.inbox, []
        return out

    def _report(self, reports: Sequence[VenueReport]) -> None:
        self.inbox.extend(reports)

    async def _save(self) -> None:
        self.state.prune(self.clock.now_ms())
        await self.persist(self.state.to_dict())

    def _ended(
        self,
        intent: PlaceOrder | ClosePosition,
        action: Literal["buy", "sell"],
        filled: int,
        reason: str,
        order_id: str = "",
    ) -> VenueReport:
        update = OrderUpdate(
            ts=max(self.clock.now_ms(), intent.ts),
            order_id=order_id or intent.client_order_id,
            client_order_id=intent.client_order_id,
            ticker=intent.ticker,
            side=intent.side,
            action=action,
            status="executed" if filled >= intent.count else "canceled",
            yes_price=intent.yes_price,
            filled_count=filled,
            remaining_count=0,
        )
        return VenueReport(self.lane, update, "" if filled >= intent.count else reason)

    def _correct(
        self, ticker: str, count: int, reason: str, working: frozenset[str] | None = None
    ) -> None:
        """Tell the engine the exchange holds ``count`` of the lane's position on ``ticker``
        (0: none); ``working``: the only orders of the lane still worked on."""
        correction = PositionCorrection(self.clock.now_ms(), ticker, count, reason, working)
        self._report([VenueReport(self.lane, correction)])

    async def sync_balance(self, due: dict[str, int] | None = None) -> int | None:
        """Tell the engine the account's cash and what it holds outside the lane at cost
        (the orphans' cost and fees), plus ``due``: payouts (ticker → micro-dollars) of
        positions closed on their result that the exchange has not paid yet (it still
        holds them). Called under the lock. Returns the cash, None when it could not be
        read (nothing is told then; logged)."""
        for _ in range(3):
            try:
                unpaid = await self._unpaid(due) if due else 0
                cash = (await self.rest.get_balance()).balance
                if due and await self._unpaid(due) != unpaid:
                    continue  # paid between the reads: read again
            except KalshiError as exc:
                log.warning("live_balance_sync_failed", error=str(exc))
                return None
            held = sum(o.cost + o.fees for o in self.state.orphans.values()) + unpaid
            self._report([VenueReport(self.lane, BalanceSync(self.clock.now_ms(), cash, held))])
            return cash
        log.warning("live_balance_sync_failed", error="payouts kept moving")
        return None

    async def _unpaid(self, due: dict[str, int]) -> int:
        rows = await self.rest.list_positions(count_filter="position")
        held = {row.ticker for row in rows if row.position}
        return sum(payout for ticker, payout in due.items() if ticker in held)

    def _as_reports(self, intent_coid: str, fills: Sequence[OwnFill]) -> list[VenueReport]:
        return [
            VenueReport(self.lane, dataclasses.replace(f, client_order_id=intent_coid))
            for f in fills
        ]

    # --- the fill stream ------------------------------------------------------------------

    def _on_fill(self, fill: OwnFill) -> None:
        key = fill.trade_id or f"{fill.order_id}:{fill.ts}:{fill.count}:{fill.yes_price}"
        if key in self._fill_seen:
            return  # a repeated frame
        self._fill_seen.add(key)
        if len(self._fill_seen) > 5000:
            self._fill_seen.clear()
        bucket = self._fills.setdefault(fill.order_id, [])
        if len(bucket) < 200:
            bucket.append(fill)
        self._fills.move_to_end(fill.order_id)
        while len(self._fills) > 200:
            self._fills.popitem(last=False)
        for waiter in self._fill_waiters:
            waiter.set()

    async def _stream_fills(self, order_id: str, expected: int) -> list[OwnFill]:
        """Fills of ``order_id`` from the stream, waiting up to ``fill_wait_s`` (on the
        venue clock) for ``expected`` hundredths."""
        deadline = self.clock.now_ms() + int(self.settings.fill_wait_s * 1000)
        while True:
            fills = list(self._fills.get(order_id, ()))
            if sum(f.count for f in fills) >= expected or self.clock.now_ms() >= deadline:
                return fills
            waiter = asyncio.Event()
            self._fill_waiters.append(waiter)
            try:
                sleeper = asyncio.ensure_future(self.clock.sleep(0.1))
                woken = asyncio.ensure_future(waiter.wait())
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
                sleeper.cancel()
                woken.cancel()
            finally:
                self._fill_waiters.remove(waiter)

    async def _collect(self, created: CreatedOrder, ticker: str, side: Side) -> _Fills:
        """The order's fills: the stream first, then REST fills, then the order's fields;
        the exchange's fill count is what must be accounted for (§3.17.2 step 9)."""
        expected = created.fill_count
        if expected <= 0:
            return _Fills((), "none")
        fills = await self._stream_fills(created.order_id, expected)
        got = sum(f.count for f in fills)
        if got >= expected:
            return _Fills(tuple(fills), "fill_ws")
        try:
            rest = await self.rest.list_fills(order_id=created.order_id, ticker=ticker)
        except KalshiError as exc:
            log.warning("live_rest_fills_failed", order_id=created.order_id, error=str(exc))
            rest = []
        if sum(f.count for f in rest) >= expected:
            return _Fills(tuple(sorted(rest, key=lambda f: f.ts)), "rest_fills")
        if fills:
            # The stream's fills and the rest of the count at the order's average price.
            rest_count = expected - got
            return _Fills(
                (*fills, self._synthetic(created, ticker, side, rest_count, got)),
                "fill_ws_partial",
            )
        return _Fills((self._synthetic(created, ticker, side, expected, 0),), "order_response")

    def _synthetic(
        self, created: CreatedOrder, ticker: str, side: Side, count: int, already: int
    ) -> OwnFill:
        """One fill from the create answer's averages (micro-dollars per contract)."""
        avg = created.average_fill_price
        if avg is None:
            raise OrderOutcomeUnknown(None, "no_fill_data", f"order {created.order_id}")
        yes_price = avg // 100
        fee = (created.average_fee_paid or 0) * count // 100
        return OwnFill(
            ts=created.ts or self.clock.now_ms(),
            trade_id=f"{created.order_id}#order",
            order_id=created.order_id,
            client_order_id=created.client_order_id,
            ticker=ticker,
            side=side,
            action="buy",
            yes_price=yes_price,
            count=count,
            fee=fee,
            is_taker=True,
        )

    # --- exchange reads -------------------------------------------------------------------

    async def _signed_position(self, ticker: str) -> int | None:
        """The exchange's signed position on ``ticker`` after the ledger lag, with retries;
        None when every read failed."""
        await self.clock.sleep(self.settings.ledger_lag_s)
        for attempt in range(1, self.settings.verify_attempts + 1):
            try:
                rows = await self.rest.list_positions(ticker=ticker, count_filter=None)
            except KalshiError as exc:
                log.warning("live_verify_failed", ticker=ticker, attempt=attempt, error=str(exc))
                if attempt < self.settings.verify_attempts:
                    await self.clock.sleep(self.settings.verify_backoff_s * attempt)
                continue
            return sum(row.position for row in rows if row.ticker == ticker)
        return None

    async def _wallet(self) -> int | None:
        try:
            return (await self.rest.get_balance()).balance
        except KalshiError as exc:
            log.warning("live_wallet_read_failed", error=str(exc))
            return None

    async def _create(
        self,
        *,
        ticker: str,
        side: Side,
        action: Literal["buy", "sell"],
        yes_price: int,
        count: int,
        client_order_id: str,
        intent_coid: str,
        purpose: Literal["entry", "exit"],
        lane_order: bool = False,
        reason: str = "",
        earlier: int = 0,
    ) -> CreatedOrder | None:
        """One IOC order; None when it was definitely not placed (an error raised for
        409, so the caller can read the market). An unknown outcome blocks here until a
        successful lookup by ``client_order_id`` says which. The lane's own orders
        (``lane_order``: its entries and exits) are written to the durable state before
        they are sent; the caller clears the mark when it has booked the result."""
        if not 0 < yes_price < PRICE_MAX or count <= 0:
            raise KalshiError(None, "bad_order", f"yes_price={yes_price} count={count}")
        if lane_order:
            self.state.unresolved = Unresolved(
                client_order_id,
                intent_coid,
                ticker,
                purpose,
                self.clock.now_ms(),
                lane_order=True,
                side=side,
                reason=reason,
                earlier=earlier,
            )
            self.state.touch()
            await self._save()
        try:
            return await self.rest.create_order(
                ticker=ticker,
                book_side=book_side_for(side, action),
                yes_price=yes_price,
                count=count,
                time_in_force="immediate_or_cancel",
                client_order_id=client_order_id,
                reduce_only=action == "sell",
            )
        except OrderOutcomeUnknown as exc:
            log.warning("live_order_unknown", client_order_id=client_order_id, error=str(exc))
            if lane_order:
                return await self._resolve(ticker, client_order_id)
            self.state.unresolved = Unresolved(
                client_order_id, intent_coid, ticker, purpose, self.clock.now_ms()
            )
            self.state.touch()
            await self._save()
            found = await self._resolve(ticker, client_order_id)
            self.state.unresolved = None
            self.state.touch()
            await self._save()
            return found

    async def _resolve(self, ticker: str, client_order_id: str) -> CreatedOrder | None:
        """Look the order up until a lookup succeeds: found → it; not found → None."""
        while True:
            try:
                orders = await self.rest.list_orders(ticker=ticker)
            except KalshiError as exc:
                log.warning("live_lookup_failed", client_order_id=client_order_id, error=str(exc))
                await self.clock.sleep(self.settings.resolve_poll_s)
                continue
            for order in orders:
                if order.client_order_id == client_order_id:
                    log.info("live_order_resolved", client_order_id=client_order_id, found=True)
                    return CreatedOrder(
                        order_id=order.order_id,
                        client_order_id=client_order_id,
                        fill_count=order.fill_count,
                        remaining_count=order.remaining_count,
                        average_fill_price=None,
                        average_fee_paid=None,
                        ts=order.ts,
                        recovered=True,
                    )
            log.info("live_order_resolved", client_order_id=client_order_id, found=False)
            return None

    async def _resolve_restored(self) -> None:
        """At start, under the lock: the order in flight when the last run stopped, looked
        up by its client order id. The lane's own order (#23: a kill during an entry or an
        exit) is booked from the exchange's fills: an entry's become the position (none:
        FLAT, the lane free), an exit's the sale (all sold: FLAT, a round trip); the
        engine hears the same fills (``OrderRestored``). Any other order that filled
        leaves the exchange holding what the lane does not know: DESYNC, for
        reconciliation."""
        state = self.state
        unresolved = state.unresolved
        if unresolved is None:
            return
        found = await self._resolve(unresolved.ticker, unresolved.client_order_id)
        filled = found is not None and found.fill_count > 0
        if not unresolved.lane_order:
            state.unresolved = None
            if filled:
                state.desync(f"order {unresolved.client_order_id} filled while stopped")
            else:
                state.touch()
            await self._save()
            return
        got = _Fills((), "none")
        if found is not None and filled:
            try:
                got = await self._collect(found, unresolved.ticker, unresolved.side)
            except KalshiError as exc:
                state.unresolved = None
                state.desync(f"order {unresolved.client_order_id} filled, fills unread: {exc}")
                await self._save()
                return
        order_id = found.order_id if found is not None else ""
        told, earlier = got.fills, unresolved.earlier
        if unresolved.purpose == "exit" and earlier:
            every = await self._exit_attempts(unresolved.intent_client_order_id)
            if every is not None:  # the engine's state may predate the earlier attempts
                told, earlier = every, 0
        closed = None
        if unresolved.purpose == "entry":
            self._restored_entry(order_id, got)
        else:
            closed = self._restored_exit(unresolved.ticker, order_id, got, unresolved.reason)
        log.warning(
            "live_order_restored",
            client_order_id=unresolved.client_order_id,
            purpose=unresolved.purpose,
            found=found is not None,
            filled=got.count,
            state=state.state,
        )
        notice = OrderRestored(
            self.clock.now_ms(),
            unresolved.intent_client_order_id,
            unresolved.purpose,
            unresolved.ticker,
            unresolved.side,
            unresolved.reason,
            tuple((f.yes_price, f.count, f.fee) for f in told),
            earlier,
        )
        self._report([VenueReport(self.lane, notice)])
        state.unresolved = None
        state.touch()
        await self._save()
        if closed is not None:
            await self._trade_check(closed, unresolved.reason, await self._wallet())

    async def _exit_attempts(self, intent_coid: str) -> tuple[OwnFill, ...] | None:
        """Every attempt's fills of the engine's exit ``intent_coid`` (its order and the
        retries, ``-r1``, ``-r2``) on the tracked position, in time order, from the
        exchange; None when there is no position or the read fails."""
        position = self.state.position
        if position is None:
            return None
        try:
            sells = await self._own_sells(position)
        except KalshiError as exc:
            log.warning("live_exit_attempts_unread", ticker=position.ticker, error=str(exc))
            return None
        return tuple(
            fill
            for coid, fills in sells
            if _RETRY_SUFFIX.sub("", coid) == intent_coid
            for fill in fills
        )

    async def _restore_missed_exits(self) -> None:
        """At start, under the lock, after the order in flight: the lane's exits the
        durable state missed (#23: its writes failed while the exit sold, as in an outage
        of the trader's database, and the run was killed before one succeeded). When the
        exchange holds less of the tracked position than the state does, the lane's own
        sells on that market since the entry (``_own_sells``) that the position has not
        booked are its exit: their cash and fees come off the position (all sold: FLAT, a
        round trip, its check) and the engine hears them (``OrderRestored``) under
        ``EXIT_RESTORED`` unless its saved state knows the exit's reason. A read that fails
        leaves it all to the start reconciliation."""
        state, position = self.state, self.state.position
        if position is None or state.unresolved is not None or position.count <= 0:
            return
        ticker = position.ticker
        try:
            rows = await self.rest.list_positions(ticker=ticker, count_filter=None)
            signed = sum(row.position for row in rows if row.ticker == ticker)
            held = max(0, signed if position.side == "yes" else -signed)
            if held >= position.count:
                return
            sells = await self._own_sells(position)
        except KalshiError as exc:
            log.warning("live_missed_exits_unread", ticker=ticker, error=str(exc))
            return
        known = {position.entry_order_id, *position.exit_order_ids}
        missed = [(coid, fills) for coid, fills in sells if fills[0].order_id not in known]
        if not missed:
            return
        for _coid, fills in missed:
            _book_exit(position, fills[0].order_id, _Fills(tuple(fills), "rest_fills"))
        self._tell_exits(position, MISSED_EXIT, missed)
        log.warning(
            "live_missed_exits_booked",
            ticker=ticker,
            orders=[coid for coid, _ in missed],
            left=position.count,
            exchange=held,
        )
        if position.count > 0:
            state.touch()  # the rest is held: the start reconciliation checks the count
            await self._save()
            return
        state.end_round_trip(ticker, position, MISSED_EXIT, self.clock.now_ms() + EXIT_COOLDOWN_MS)
        await self._save()
        await self._trade_check(position, MISSED_EXIT, await self._wallet())

    async def _retell_last(self) -> None:
        """At start, the lane flat (or holding the last round trip's position sold out in
        DESYNC, for reconciliation): the last round trip the lane booked is told the engine
        again (its sales as ``OrderRestored``, from the exchange's fills of its exit
        orders, or its settlement as ``PositionSettled``), under its reason. An engine
        whose saved state predates that end (#23: the state and the trade row were still
        in the writer's queue at the kill) books it; one without the position ignores it.
        A read that fails tells nothing (the start's correction then closes the engine's
        stale position with no PnL, as before)."""
        state, last, held = self.state, self.state.last_closed, self.state.position
        if last is None:
            return
        if held is not None and not held.count and held.ticker != last.ticker:
            return  # not the last's (a sold-out position in DESYNC is)
        if (
            held is not None
            and held.count
            and (held.ticker == last.ticker or not last.entry_client_order_id)
        ):
            # A later position on that market (or the last's entry unknown): the last's
            # notices could not be told from this one's.
            return
        now = self.clock.now_ms()
        if state.last_result in ("yes", "no"):
            result: Side = "yes" if state.last_result == "yes" else "no"
            notice = PositionSettled(now, last.ticker, result, state.last_reason)
            self._report([VenueReport(self.lane, notice)])
            return
        try:
            sells = await self._own_sells(last)
        except KalshiError as exc:
            log.warning("live_last_exit_unread", ticker=last.ticker, error=str(exc))
            return
        mine = set(last.exit_order_ids)
        self._tell_exits(
            last, state.last_reason, [(c, f) for c, f in sells if f[0].order_id in mine]
        )

    async def _retell_entry(self) -> None:
        """At start, the lane OPEN on a position nothing has sold yet: its entry is told
        the engine again (``OrderRestored``, from the exchange's fills of the entry order).
        An engine whose saved state predates the entry (#23: a kill after the entry filled,
        the engine's state still in the writer's queue) opens the position (its driver
        unknown); one that has it, or has the order pending, books nothing twice. A read
        that fails tells nothing (the engine then never holds the position: reconciliation
        sees it held, entries stay refused)."""
        state, position = self.state, self.state.position
        if (
            position is None
            or state.state != "OPEN"
            or not position.count
            or position.count != position.bought
            or not position.entry_order_id
            or not position.entry_client_order_id
        ):
            return
        try:
            fills = await self.rest.list_fills(
                order_id=position.entry_order_id, ticker=position.ticker
            )
        except KalshiError as exc:
            log.warning("live_entry_unread", ticker=position.ticker, error=str(exc))
            return
        mine = sorted(fills, key=lambda f: (f.ts, f.trade_id))
        if sum(f.count for f in mine) != position.bought:
            log.warning(
                "live_entry_fills_differ",
                ticker=position.ticker,
                bought=position.bought,
                fills=sum(f.count for f in mine),
            )
            return
        log.info(
            "live_entry_retold",
            ticker=position.ticker,
            client_order_id=position.entry_client_order_id,
            count=position.bought,
        )
        notice = OrderRestored(
            self.clock.now_ms(),
            position.entry_client_order_id,
            "entry",
            position.ticker,
            position.side,
            "",
            tuple((f.yes_price, f.count, f.fee) for f in mine),
        )
        self._report([VenueReport(self.lane, notice)])

    async def _own_sells(self, position: LivePosition) -> list[tuple[str, list[OwnFill]]]:
        """The lane's own sells of ``position``'s side on its market since its entry, per
        exchange order in time order: (that order's client order id, its fills). REST fills
        do not carry the client order id: joined on ``order_id`` to the account's orders.
        Sells outside KBTC (other ids) are not the lane's: reconciliation's ghost or
        recount."""
        ticker = position.ticker
        fills = await self.rest.list_fills(ticker=ticker, min_ts=position.opened_ts // 1000)
        coids = {o.order_id: o.client_order_id for o in await self.rest.list_orders(ticker=ticker)}
        own = f"kbtc-{self.lane}-"
        by_order: dict[str, list[OwnFill]] = {}
        for fill in sorted(fills, key=lambda f: (f.ts, f.trade_id)):
            if (
                fill.action == "sell"
                and fill.side == position.side
                and fill.ts >= position.opened_ts
                and coids.get(fill.order_id, "").startswith(own)
            ):
                by_order.setdefault(fill.order_id, []).append(fill)
        return [(coids[order_id], fills) for order_id, fills in by_order.items()]

    def _tell_exits(
        self, position: LivePosition, reason: str, sells: list[tuple[str, list[OwnFill]]]
    ) -> None:
        """The engine hears the lane's sells of ``position`` (``OrderRestored``), one
        notice per engine order (an exit's retries, ``-r1``, ``-r2``, are the same order)."""
        by_intent: dict[str, list[OwnFill]] = {}
        for coid, fills in sells:
            by_intent.setdefault(_RETRY_SUFFIX.sub("", coid), []).extend(fills)
        for intent, fills in by_intent.items():
            notice = OrderRestored(
                self.clock.now_ms(),
                intent,
                "exit",
                position.ticker,
                position.side,
                reason,
                tuple((f.yes_price, f.count, f.fee) for f in fills),
                entry=position.entry_client_order_id,
            )
            self._report([VenueReport(self.lane, notice)])

    def _restored_entry(self, order_id: str, got: _Fills) -> None:
        state = self.state
        position = state.position
        if position is not None and got.fills:
            _book_entry(position, order_id, got)
        if state.state != "ENTERING":
            return
        if position is not None and position.count > 0:
            state.to("OPEN")  # the start reconciliation checks the count
            return
        ticker = position.ticker if position is not None else ""
        state.position = None
        state.to("FLAT")
        if ticker:
            state.start_cooldown(ticker, self.clock.now_ms() + PHANTOM_COOLDOWN_MS)

    def _restored_exit(
        self, ticker: str, order_id: str, got: _Fills, reason: str
    ) -> LivePosition | None:
        """The killed exit's fills come off the position; returns it when all is sold."""
        state = self.state
        position = state.position
        if position is None or position.ticker != ticker:
            return None
        _book_exit(position, order_id, got)
        if state.state != "EXITING":
            return None
        if position.count > 0:
            state.to("PARTIAL_EXIT" if position.sold else "OPEN")
            return None
        state.end_round_trip(ticker, position, reason, self.clock.now_ms() + EXIT_COOLDOWN_MS)
        return position

    # --- entry ----------------------------------------------------------------------------

    async def _enter(self, intent: PlaceOrder) -> None:
        try:
            async with self.lock:
                try:
                    await self._enter_locked(intent)
                except Exception as exc:
                    await self._failed(intent, "buy", exc)
                    raise
        finally:
            self._claimed = False
            self._pending_coids.discard(intent.client_order_id)

    async def _failed(
        self, intent: PlaceOrder | ClosePosition, action: Literal["buy", "sell"], exc: Exception
    ) -> None:
        """A bug or an answer nothing expected: the exchange is no longer known to match,
        so DESYNC (entries blocked), and the engine's order ends (its fills, if any, were
        reported as they came)."""
        if self.state.state != "DESYNC":
            self.state.desync(f"{type(exc).__name__}: {exc}"[:200])
        self.state.unresolved = None  # reconciliation sets the count
        self._report([self._ended(intent, action, 0, "error")])
        await self._save()

    async def _enter_locked(self, intent: PlaceOrder) -> None:
        state, ticker = self.state, intent.ticker
        try:
            held = await self.rest.list_positions(ticker=ticker, count_filter=None)
        except KalshiError as exc:
            state.desync(f"position check before entry failed: {exc}")
            await self._save()
            self._report([self._ended(intent, "buy", 0, "desync")])
            return
        signed = sum(p.position for p in held if p.ticker == ticker)
        if signed:
            state.desync(f"exchange holds {signed / 100:+.2f} on {ticker} before entry")
            await self._save()
            self._report([self._ended(intent, "buy", 0, "desync")])
            return
        wallet = await self._wallet()
        state.position = LivePosition(
            ticker=ticker,
            side=intent.side,
            count=0,
            entry_client_order_id=intent.client_order_id,
            wallet_at_entry=wallet,
            opened_ts=self.clock.now_ms(),
        )
        state.to("ENTERING")  # saved with the order's mark, before it is sent
        try:
            created = await self._create(
                ticker=ticker,
                side=intent.side,
                action="buy",
                yes_price=intent.yes_price,
                count=intent.count,
                client_order_id=intent.client_order_id,
                intent_coid=intent.client_order_id,
                purpose="entry",
                lane_order=True,
            )
        except KalshiError as exc:
            log.warning("live_entry_rejected", ticker=ticker, error=str(exc))
            created = None
            reason = exc.code or "rejected"
        else:
            reason = "no_liquidity"
        if created is None or created.fill_count == 0:
            # Nothing filled (or not placed): verify, then FLAT and the phantom cooldown.
            verified = await self._signed_position(ticker) if created is not None else 0
            state.position = None
            state.unresolved = None
            if verified:
                state.desync(f"entry reported no fill but the exchange holds {verified / 100:+.2f}")
            else:
                state.to("FLAT")
                state.start_cooldown(ticker, self.clock.now_ms() + PHANTOM_COOLDOWN_MS)
            await self._save()
            order_id = created.order_id if created is not None else ""
            self._report([self._ended(intent, "buy", 0, reason, order_id)])
            return
        fills = await self._collect(created, ticker, intent.side)
        position = state.position
        assert position is not None
        _book_entry(position, created.order_id, fills)
        self._report(
            [
                *self._as_reports(intent.client_order_id, fills.fills),
                self._ended(intent, "buy", fills.count, "partial", created.order_id),
            ]
        )
        verified = await self._signed_position(ticker)
        expected = position.signed
        if verified is not None and verified != expected:
            state.desync(
                f"entry filled {expected / 100:+.2f} but the exchange holds {verified / 100:+.2f}"
            )
            position.count = abs(verified) if (verified > 0) == (intent.side == "yes") else 0
            self._correct(ticker, position.count, "DESYNC")
        else:
            state.to("OPEN")
        state.unresolved = None
        await self._save()
        log.info(
            "live_entry",
            ticker=ticker,
            side=intent.side,
            count=position.count,
            cost=position.entry_cost,
            fees=position.entry_fees,
            fill_source=fills.source,
            verified=verified,
        )

    # --- exit -----------------------------------------------------------------------------

    async def _exit(self, intent: ClosePosition) -> None:
        try:
            async with self.lock:
                try:
                    await self._exit_locked(intent)
                except Exception as exc:
                    await self._failed(intent, "sell", exc)
                    raise
        finally:
            self._pending_coids.discard(intent.client_order_id)

    async def _exit_locked(self, intent: ClosePosition) -> None:
        state, ticker, side = self.state, intent.ticker, intent.side
        if self._closed_for_exits(ticker):
            self._report([self._ended(intent, "sell", 0, "market_closed")])
            return
        position = state.position
        if position is None or position.ticker != ticker:
            if ticker in state.orphans:
                # Handed to the orphan path while this exit waited (the engine is told):
                # the orphan check sells it, never a blind 1 ¢ sale.
                self._report([self._ended(intent, "sell", 0, "orphaned")])
                return
            # The engine holds what this venue has no record of (a desync): the exchange
            # decides; sell what it shows, never more, and nothing when it shows nothing.
            position = None
        remaining = intent.count
        if position is None:
            held = await self._signed_position(ticker)
            if held is not None:
                remaining = min(remaining, max(0, held if side == "yes" else -held))
            if remaining <= 0:
                log.warning("live_exit_nothing_held", ticker=ticker, exchange=held)
                self._report([self._ended(intent, "sell", 0, "nothing_held")])
                self._correct(ticker, 0, "RECONCILE_GHOST")
                return
        if state.state in ("OPEN", "PARTIAL_EXIT"):
            state.to("EXITING")  # saved with the order's mark, before it is sent
        expiry = intent.reason in EXPIRY_REASONS
        fills: list[OwnFill] = []
        order_ids: list[str] = []
        for attempt in range(self.settings.exit_attempts):
            floor = expiry_floor_cents(self.settings, attempt) if expiry else 1
            limit = floor * 100 if side == "yes" else PRICE_MAX - floor * 100
            coid = (
                intent.client_order_id if attempt == 0 else f"{intent.client_order_id}-r{attempt}"
            )
            try:
                created = await self._create(
                    ticker=ticker,
                    side=side,
                    action="sell",
                    yes_price=limit,
                    count=remaining,
                    client_order_id=coid,
                    intent_coid=intent.client_order_id,
                    purpose="exit",
                    lane_order=True,
                    reason=intent.reason,
                    earlier=sum(f.count for f in fills),
                )
            except KalshiConflict as exc:
                if await self._market_closed(ticker):
                    # §3.17.3 step 2: the market is closing or closed; settlement takes it.
                    log.warning("live_exit_409_settlement", ticker=ticker, error=str(exc))
                    state.closed_markets.append(ticker)  # its settlement: EXPIRY_409_SETTLED
                    await self._exit_ended(intent, fills, order_ids, "market_closed")
                    return
                log.warning("live_exit_conflict", ticker=ticker, error=str(exc))
                created = None
            except KalshiError as exc:
                log.warning("live_exit_failed", ticker=ticker, attempt=attempt + 1, error=str(exc))
                created = None
            if created is not None:
                order_ids.append(created.order_id)
                got = await self._collect(created, ticker, side)
                fills.extend(got.fills)
                remaining -= got.count
                tracked = state.position
                if tracked is not None and tracked.ticker == ticker:
                    _book_exit(tracked, created.order_id, got)
                if got.fills:
                    self._report(self._as_reports(intent.client_order_id, got.fills))
            if remaining <= 0:
                break
            if attempt + 1 < self.settings.exit_attempts:
                await self.clock.sleep(min(8, 2 ** (attempt + 1)))
        await self._exit_ended(intent, fills, order_ids, "no_liquidity")

    def _closed_for_exits(self, ticker: str) -> bool:
        """An exit there ends ``market_closed`` with no order: a 409'd exit found its
        market closed, or the start did (no result yet); settlement takes it."""
        return ticker in self.state.closed_markets or ticker in self._closed_at_start

    async def _market_closed(self, ticker: str) -> bool:
        try:
            market = await self.rest.get_market(ticker)
        except KalshiError as exc:
            log.warning("live_market_read_failed", ticker=ticker, error=str(exc))
            return False
        return market.phase in CLOSED_PHASES

    async def _exit_ended(
        self,
        intent: ClosePosition,
        fills: list[OwnFill],
        order_ids: list[str],
        reason: str,
    ) -> None:
        state, ticker = self.state, intent.ticker
        sold = sum(f.count for f in fills)
        order_id = order_ids[-1] if order_ids else ""
        self._report([self._ended(intent, "sell", sold, reason, order_id)])
        position = state.position if state.position and state.position.ticker == ticker else None
        state.unresolved = None  # its fills are on the position (saved below)
        verified = (
            await self._signed_position(ticker) if sold or reason != "market_closed" else None
        )
        held_side = 1 if intent.side == "yes" else -1
        exchange_left = None if verified is None else max(0, verified * held_side)
        if position is not None and sold and exchange_left == 0 and state.state == "DESYNC":
            # Sold out while the state is in doubt (a failed write, #23): the position stays
            # for reconciliation, and is remembered as the last round trip for a restart.
            state.round_trip_ended(position, intent.reason)
        if position is not None and exchange_left is not None and exchange_left != position.count:
            state.desync(
                f"after the exit we hold {position.count / 100:.2f} but the exchange"
                f" {exchange_left / 100:.2f}"
            )
            position.count = exchange_left
            if sold and exchange_left == 0:
                state.round_trip_ended(position, intent.reason)
            self._correct(ticker, exchange_left, "DESYNC")
            await self._save()
            after = await self.sync_balance() if sold else None
            if sold and exchange_left == 0:  # over on the exchange: its check flags the state
                await self._trade_check(position, intent.reason, after)
            return
        if state.state == "DESYNC":
            await self._save()
            if sold:
                await self.sync_balance()
            return
        left = position.count if position is not None else (exchange_left or 0)
        if sold == 0:
            if reason != "market_closed" and left:
                await self._orphan_failed_exit(intent, position, left)
                return
            if state.state == "EXITING":
                state.to("OPEN")
            await self._save()
            return
        if left > 0:
            if state.state == "EXITING":
                state.to("PARTIAL_EXIT")
            await self._save()
            await self.sync_balance()
            return
        # All sold: a round trip.
        state.end_round_trip(
            ticker,
            position,
            intent.reason,
            self.clock.now_ms() + EXIT_COOLDOWN_MS,
            flat=state.state in ("EXITING", "OPEN", "PARTIAL_EXIT"),
        )
        await self._save()
        after = await self.sync_balance()
        if position is not None:
            await self._trade_check(position, intent.reason, after)

    async def _orphan_failed_exit(
        self, intent: ClosePosition, position: LivePosition | None, left: int
    ) -> None:
        """§3.17.3's coordinator wrapper (BUG-031), §3.17.10: an exit that sold nothing in
        all its attempts hands the whole position to the orphan path, whatever its reason:
        adopted (entries stay blocked), FLAT, the engine told (it unwatches the position),
        the bankroll synced, errors notified."""
        state, ticker = self.state, intent.ticker
        cause = "EMERGENCY_STOP" if intent.reason == "EMERGENCY_STOP" else "EXIT_FAILED"
        signed = left if intent.side == "yes" else -left
        bought = max(1, position.bought) if position is not None else 1
        state.adopt_orphan(
            ticker,
            signed,
            cause,
            self.clock.now_ms(),
            cost=position.entry_cost * left // bought if position is not None else None,
            fees=position.entry_fees * left // bought if position is not None else None,
        )
        state.position = None
        state.to("FLAT")
        await self._save()
        self._correct(ticker, 0, "ORPHANED")
        await self.sync_balance()
        log.error("live_exit_orphaned", ticker=ticker, reason=intent.reason, count=left)
        await self.notify(
            "errors",
            f"live: the {intent.reason} exit of {ticker} {signed / 100:+.2f} sold nothing in"
            f" {self.settings.exit_attempts} attempts: adopted as an orphan ({cause})",
        )

    async def _trade_check(
        self, position: LivePosition, reason: str, after: int | None, payout: int = 0
    ) -> None:
        """§3.18 after a round trip: the wallet drift (BUG-025; ``after``: the wallet read
        after the exit) and the anomaly check, beside the trade (``trade_check``): stored,
        logged, and an anomaly on the errors channel."""
        check = round_trip_check(
            lane=self.lane,
            position=position,
            reason=reason,
            state=self.state,
            wallet_after=after,
            drift_limit=self.settings.drift_limit,
            payout=payout,
        )
        if check["flagged"]:
            log.warning("live_trade_flagged", ticker=position.ticker, flagged=check["flagged"])
        self.checks.append(check)
        del self.checks[:-100]
        if self.record_check is not None:
            await self.record_check(check)
        if alarming(check["anomalies"]):
            await self.notify(
                "errors",
                f"live: TRADE_ANOMALY on {position.ticker} ({reason}, PnL"
                f" ${check['pnl'] / MICROS_PER_DOLLAR:+.2f}): {', '.join(check['anomalies'])}",
            )

    # --- settlement -----------------------------------------------------------------------

    async def _settle(self, ticker: str, result: Side) -> None:
        async with self.lock:
            await self._settle_locked(ticker, result)

    async def _settle_closed(self) -> None:
        """At start, under the lock, before any exit of this run: the tracked position's
        market may have closed while the trader was down (#23: a kill or an outage across
        the close), and the engine's saved state may not know it yet. Settled: booked now
        (``_settle_locked``). Closed without a result: the engine's exits for it end
        ``market_closed`` without an order (the exchange would refuse a sale there) and
        its settlement comes with the result. A read that fails changes nothing."""
        position = self.state.position
        if position is None or self.state.state not in ("OPEN", "PARTIAL_EXIT"):
            return
        ticker = position.ticker
        try:
            market = await self.rest.get_market(ticker)
        except KalshiError as exc:
            log.warning("live_start_market_unread", ticker=ticker, error=str(exc))
            return
        if market.phase not in CLOSED_PHASES:
            return
        log.warning("live_start_market_closed", ticker=ticker, result=market.result)
        if market.result in ("yes", "no"):
            await self._settle_locked(ticker, "yes" if market.result == "yes" else "no")
        else:
            self._closed_at_start.add(ticker)

    async def _settle_locked(self, ticker: str, result: Side) -> None:
        state = self.state
        position = state.position
        if position is None or position.ticker != ticker:
            return
        verified = await self._signed_position(ticker)
        now = self.clock.now_ms()
        if verified:
            # Still held after settlement: not ours to guess; the orphan path owns it.
            # #22: a 409'd exit's position keeps that cause (its close is labelled
            # EXPIRY_409_SETTLED); what it cost goes with it; the round trip is counted
            # below, so the orphan is ``counted``.
            cause = "EXPIRY_409" if ticker in state.closed_markets else "SETTLEMENT_UNCONFIRMED"
            share = abs(verified), max(1, position.bought)
            state.adopt_orphan(
                ticker,
                verified,
                cause,
                now,
                cost=position.entry_cost * share[0] // share[1],
                fees=position.entry_fees * share[0] // share[1],
                counted=True,
            )
        if verified is None:
            reason = SETTLED_VERIFY_FAILED
        else:
            reason = "EXPIRY_409_SETTLED" if ticker in state.closed_markets else "CONTRACT_SETTLED"
        # Told first: the engine books it whatever happens to the writes below.
        self._report([VenueReport(self.lane, PositionSettled(now, ticker, result, reason))])
        state.end_round_trip(
            ticker,
            position,
            reason,
            now + EXIT_COOLDOWN_MS,
            flat=state.state != "DESYNC",
            result=result,
        )
        state.settled_tickers.append(ticker)
        await self._save()
        won = (result == "yes") == (position.side == "yes")
        payout = PRICE_MAX * position.count if won else 0  # $1 a contract, micro-dollars
        log.info("live_settled", ticker=ticker, result=result, payout=payout, reason=reason)
        await self._trade_check(position, reason, None, payout)

    # --- close-all ------------------------------------------------------------------------

    async def _close_exchange_positions(self, exclude: frozenset[str]) -> None:
        async with self.lock:
            try:
                rows = await self.rest.list_positions(count_filter="position")
            except KalshiError as exc:
                log.error("live_close_all_failed", error=str(exc))
                return
            for row in rows:
                if not row.position or row.ticker in exclude:
                    continue
                side: Side = "yes" if row.position > 0 else "no"
                limit = 100 if side == "yes" else PRICE_MAX - 100
                coid = self.own_client_order_id("closeall", row.ticker)
                try:
                    created = await self._create(
                        ticker=row.ticker,
                        side=side,
                        action="sell",
                        yes_price=limit,
                        count=abs(row.position),
                        client_order_id=coid,
                        intent_coid=coid,
                        purpose="exit",
                    )
                except KalshiError as exc:
                    log.warning("live_close_all_order_failed", ticker=row.ticker, error=str(exc))
                    continue
                if created is not None and created.fill_count > 0:
                    # BUG-004: only tickers that filled lose their orphan.
                    self.state.orphans.pop(row.ticker, None)
                    self.state.touch()
                log.info(
                    "live_close_all",
                    ticker=row.ticker,
                    count=abs(row.position),
                    filled=created.fill_count if created else 0,
                )
            await self._save()
            await self.sync_balance()

    # --- health ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        state = self.state
        return {
            "state": state.state,
            "desync_reason": state.desync_reason,
            "ticker": state.position.ticker if state.position else None,
            "count": state.position.count if state.position else 0,
            "round_trips": state.round_trips,
            "orphans": sorted(state.orphans),
            "unresolved": state.unresolved.client_order_id if state.unresolved else None,
            "errors": list(self.errors[-3:]),
        }


def _premium(side: Side, yes_price: int) -> int:
    """What one contract of ``side`` costs (or sells for) at ``yes_price``, price units."""
    return yes_price if side == "yes" else PRICE_MAX - yes_price


def _book_entry(position: LivePosition, order_id: str, fills: _Fills) -> None:
    """An entry order's fills become the position (its count, cost and fees)."""
    position.entry_order_id = order_id
    position.fill_source = fills.source
    for fill in fills.fills:
        position.bought += fill.count
        position.count += fill.count
        position.entry_cost += _premium(position.side, fill.yes_price) * fill.count
        position.entry_fees += fill.fee


def _book_exit(position: LivePosition, order_id: str, fills: _Fills) -> None:
    """An exit order's fills come off the position (the sale's cash and fees)."""
    position.exit_order_ids.append(order_id)
    for fill in fills.fills:
        position.sold += fill.count
        position.count = max(0, position.count - fill.count)
        position.exit_proceeds += _premium(position.side, fill.yes_price) * fill.count
        position.exit_fees += fill.fee
    if fills.fills:
        position.fill_source = fills.source
