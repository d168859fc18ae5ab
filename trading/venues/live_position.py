"""The live lane's position manager state (domain.md §3.17.1, §3.17.8): pure, no I/O.

``FLAT → ENTERING → OPEN → EXITING → FLAT``, ``ENTERING → FLAT`` (nothing filled),
``EXITING → OPEN`` (nothing sold), ``EXITING → PARTIAL_EXIT`` (part sold; the rest is
handed to the next exit), ``PARTIAL_EXIT → EXITING``, and any state → ``DESYNC`` (the
exchange disagrees with what we hold: entries blocked until a reconciliation resolves it,
``resolve_desync``, the next issue's entry point).

What it holds is what the exchange should show: the ticker, the signed count (hundredths,
+ YES, − NO), the cash paid and fees, the entry and exit order ids, the wallet before the
entry, and the order whose outcome is not known yet (``unresolved``: a create that timed
out, 5xx-ed or lost its answer; it blocks its market until a lookup by
``client_order_id`` settles it). Times are event-time milliseconds the caller passes in.

Every transition returns nothing and changes ``version``; the venue persists ``to_dict()``
after each (a ``LivePositionState`` row) and ``from_dict`` applies the §3.17.8 rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

State = Literal["FLAT", "ENTERING", "OPEN", "EXITING", "PARTIAL_EXIT", "DESYNC"]
STATES: tuple[State, ...] = ("FLAT", "ENTERING", "OPEN", "EXITING", "PARTIAL_EXIT", "DESYNC")

PHANTOM_COOLDOWN_MS = 30_000  # §3.17.1: a ticker whose entry did not fill
EXIT_COOLDOWN_MS = 90_000  # §3.17.3 step 7: reconciliation leaves a just-exited ticker alone

_ALLOWED: dict[State, frozenset[State]] = {
    "FLAT": frozenset({"ENTERING", "DESYNC"}),
    "ENTERING": frozenset({"FLAT", "OPEN", "DESYNC"}),
    "OPEN": frozenset({"EXITING", "FLAT", "DESYNC"}),  # FLAT: settled
    "EXITING": frozenset({"OPEN", "PARTIAL_EXIT", "FLAT", "DESYNC"}),
    "PARTIAL_EXIT": frozenset({"EXITING", "FLAT", "DESYNC"}),
    "DESYNC": frozenset({"FLAT", "OPEN", "DESYNC"}),
}


class TransitionError(RuntimeError):
    """A transition the state machine does not have (a bug in the caller, never data)."""


@dataclass(slots=True)
class LivePosition:
    ticker: str
    side: Literal["yes", "no"]
    count: int  # hundredths held (unsigned; ``side`` gives the sign)
    entry_cost: int = 0  # micro-dollars paid for the count bought
    entry_fees: int = 0
    exit_proceeds: int = 0
    exit_fees: int = 0
    bought: int = 0  # hundredths bought in total
    sold: int = 0
    entry_order_id: str = ""
    entry_client_order_id: str = ""  # the engine's
    exit_order_ids: list[str] = field(default_factory=list)
    wallet_at_entry: int | None = None  # micro-dollars, before the entry order (BUG-027)
    fill_source: str = ""
    opened_ts: int = 0

    @property
    def signed(self) -> int:
        return self.count if self.side == "yes" else -self.count


@dataclass(slots=True)
class Unresolved:
    """A write whose outcome is unknown: never a second order for the same intent.

    The lane's own orders (``lane_order``) are written here *before* they are sent and
    cleared once their result is booked, so a run stopped with one in flight finds it at
    start (by ``client_order_id``) and books what it did: the exchange's fills, to the
    venue's position and, as ``OrderRestored``, to the engine's lane."""

    client_order_id: str  # what the exchange saw
    intent_client_order_id: str  # the engine's
    ticker: str
    purpose: Literal["entry", "exit"]
    since_ts: int
    lane_order: bool = False
    side: Literal["yes", "no"] = "yes"
    reason: str = ""  # the engine's exit reason
    earlier: int = 0  # hundredths of the engine's order sold by earlier attempts


@dataclass(slots=True)
class Orphan:
    ticker: str
    signed: int
    cause: str
    detected_ts: int
    # #22 (trading.venues.orphans): what the exchange says it cost (micro-dollars, the
    # held side's premium), its fees, and whether its round trip was already counted.
    cost: int = 0
    fees: int = 0
    counted: bool = False


@dataclass
class PositionManagerState:
    state: State = "FLAT"
    position: LivePosition | None = None
    unresolved: Unresolved | None = None
    orphans: dict[str, Orphan] = field(default_factory=dict)
    round_trips: int = 0  # completed live round trips (counted once per round trip)
    settled_tickers: list[str] = field(default_factory=list)
    cooldowns: dict[str, int] = field(default_factory=dict)  # ticker → until (ms)
    closed_markets: list[str] = field(default_factory=list)  # 409'd: wait for settlement
    desync_reason: str = ""
    version: int = 0
    # The venue's starts (``begin_run``): every client order id of a run carries it, so no
    # id repeats one of an earlier run (the engine's saved state may predate its orders).
    starts: int = 0
    # The last round trip the lane booked (#23): its position as it ended, the exit's
    # reason and the result it settled on ("" when sold). A restart whose engine state
    # predates that end (its saved state and trade row lost with the writer's queue) is
    # told it again (``KalshiVenue._retell_last``); an engine without the position ignores it.
    last_closed: LivePosition | None = None
    last_reason: str = ""
    last_result: str = ""

    # --- transitions ---------------------------------------------------------------------

    def to(self, state: State, *, reason: str = "") -> None:
        if state != self.state and state not in _ALLOWED[self.state]:
            raise TransitionError(f"{self.state} → {state} is not a transition")
        self.state = state
        if state == "DESYNC":
            self.desync_reason = reason or self.desync_reason or "exchange mismatch"
        elif state != "DESYNC":
            self.desync_reason = ""
        self.version += 1

    def touch(self) -> None:
        self.version += 1

    def round_trip_ended(self, position: LivePosition, reason: str, result: str = "") -> None:
        """The lane's position ended (sold or settled): remembered as the last round trip."""
        self.last_closed = position
        self.last_reason = reason
        self.last_result = result
        self.version += 1

    def end_round_trip(
        self,
        ticker: str,
        position: LivePosition | None,
        reason: str,
        cooldown_until: int,
        *,
        flat: bool = True,
        result: str = "",
    ) -> None:
        """The lane's position on ``ticker`` is over (sold out or settled): no position,
        remembered as the last round trip (when known), counted once, its market in the
        reconciliation cooldown; FLAT unless ``flat`` is False (a state the caller keeps)."""
        self.position = None
        if position is not None:
            self.round_trip_ended(position, reason, result)
        if flat:
            self.to("FLAT")
        self.round_trips += 1
        self.start_cooldown(ticker, cooldown_until)

    def begin_run(self) -> None:
        """A start of the venue: persisted before its first order."""
        self.starts += 1
        self.version += 1

    def desync(self, reason: str) -> None:
        self.to("DESYNC", reason=reason)

    def resolve_desync(self, *, exchange_signed: int, ticker: str | None) -> None:
        """Reconciliation's entry point (#22): DESYNC with no exchange position and no
        orphans → FLAT; with a position → OPEN on what the exchange holds."""
        if self.state != "DESYNC":
            return
        if exchange_signed == 0:
            self.position = None
            self.to("FLAT")
            return
        if self.position is None or ticker != self.position.ticker:
            raise TransitionError("a position the lane does not hold: adopt it as an orphan")
        self.position.count = abs(exchange_signed)
        self.position.side = "yes" if exchange_signed > 0 else "no"
        self.to("OPEN")

    def adopt_orphan(
        self,
        ticker: str,
        signed: int,
        cause: str,
        now: int,
        *,
        cost: int | None = None,
        fees: int | None = None,
        counted: bool = False,
    ) -> None:
        """Idempotent per ticker (§3.17.7): re-adopting replaces the count, never adds
        (BUG-015); ``cause`` only upgrades; ``counted`` is sticky; the first detection
        time stays. The rules live in ``trading.venues.orphans.adopted``."""
        from trading.venues.orphans import adopted

        self.orphans[ticker] = adopted(
            self.orphans.get(ticker), ticker, signed, cause, now, cost, fees, counted
        )
        self.version += 1

    # --- gates ---------------------------------------------------------------------------

    def entry_refusal(self, ticker: str, now: int, trade_limit: int | None) -> str:
        """Why an entry on ``ticker`` may not start now ("" when it may): §3.17.1 can_enter."""
        if self.state != "FLAT":
            return f"state {self.state}" + (
                f" ({self.desync_reason})" if self.desync_reason else ""
            )
        if self.unresolved is not None:
            return f"order {self.unresolved.client_order_id} unresolved"
        if self.orphans:
            return f"orphans held: {', '.join(sorted(self.orphans))}"
        if trade_limit is not None and trade_limit > 0 and self.round_trips >= trade_limit:
            return f"live trade limit reached ({self.round_trips}/{trade_limit} round trips)"
        until = self.cooldowns.get(ticker)
        if until is not None and now < until:
            return f"{ticker} in cooldown for {(until - now) // 1000} s"
        if ticker in self.closed_markets or ticker in self.settled_tickers:
            return f"{ticker} is closed"
        return ""

    def start_cooldown(self, ticker: str, until: int) -> None:
        self.cooldowns[ticker] = max(until, self.cooldowns.get(ticker, 0))
        self.version += 1

    def prune(self, now: int) -> None:
        """Forget cooldowns that are over (kept bounded)."""
        over = [t for t, until in self.cooldowns.items() if until <= now]
        for ticker in over:
            del self.cooldowns[ticker]
        del self.settled_tickers[:-50]
        del self.closed_markets[:-50]

    # --- persistence (§3.17.8) -----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "position": asdict(self.position) if self.position else None,
            "unresolved": asdict(self.unresolved) if self.unresolved else None,
            "orphans": {t: asdict(o) for t, o in self.orphans.items()},
            "round_trips": self.round_trips,
            "settled_tickers": list(self.settled_tickers),
            "cooldowns": dict(self.cooldowns),
            "closed_markets": list(self.closed_markets),
            "desync_reason": self.desync_reason,
            "version": self.version,
            "starts": self.starts,
            "last_closed": asdict(self.last_closed) if self.last_closed else None,
            "last_reason": self.last_reason,
            "last_result": self.last_result,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PositionManagerState:
        """Restore with the §3.17.8 rules: unknown fields dropped; a state other than FLAT
        without a position → FLAT (an unresolved order keeps its market blocked: the
        venue resolves it at start); FLAT with a position → the position dropped
        (BUG-031); ENTERING or EXITING with the lane's order in flight stays so (the venue
        books that order's outcome at start), without one → OPEN. The trade limit is
        configuration, never restored from here."""
        if not data:
            return cls()
        state = data.get("state") if data.get("state") in STATES else "FLAT"
        position = _known(LivePosition, data.get("position"))
        unresolved = _known(Unresolved, data.get("unresolved"))
        orphans = {
            ticker: orphan
            for ticker, raw in (data.get("orphans") or {}).items()
            if (orphan := _known(Orphan, raw)) is not None
        }
        in_flight = unresolved is not None and unresolved.lane_order
        if state == "DESYNC":
            pass  # a mismatch survives a restart: only reconciliation clears it
        elif in_flight and position is not None and state in ("ENTERING", "EXITING"):
            pass  # the venue looks its order up at start and books what it did
        elif position is None:
            state = "FLAT"
        elif state == "FLAT":
            position = None
        elif state in ("ENTERING", "EXITING", "PARTIAL_EXIT"):
            state = "OPEN"  # the order ended while we were away; verify against the exchange
        restored = cls(
            state=state,  # type: ignore[arg-type]
            position=position,
            unresolved=unresolved,
            orphans=orphans,
            round_trips=int(data.get("round_trips") or 0),
            settled_tickers=list(data.get("settled_tickers") or []),
            cooldowns={str(k): int(v) for k, v in (data.get("cooldowns") or {}).items()},
            closed_markets=list(data.get("closed_markets") or []),
            desync_reason=str(data.get("desync_reason") or ""),
            version=int(data.get("version") or 0),
            starts=int(data.get("starts") or 0),
            last_closed=_known(LivePosition, data.get("last_closed")),
            last_reason=str(data.get("last_reason") or ""),
            last_result=str(data.get("last_result") or ""),
        )
        return restored


def _known(cls: Any, raw: Any) -> Any:
    if not isinstance(raw, dict):
        return None
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in raw.items() if k in names})
    except TypeError:
        return None  # a required field missing: not restorable, treated as absent
