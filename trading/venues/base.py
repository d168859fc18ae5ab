"""What every venue is to the driver (interfaces.md §11).

A venue takes the engine's order intents, says when it next has work due, does that work
when the driver reaches that time, sees every market event (its books, its clock) and
snapshots what a restart must find again. It reports what happened to an order the way an
exchange account does, an ``OwnFill`` per fill and a terminal ``OrderUpdate``, each tagged
with its lane: the driver hands those to the engine through one path, whatever the venue.
An exchange account's venue reports on that path what it learns without an order, too:
the exchange's count of the lane's position (``PositionCorrection``), the account's
cash (``BalanceSync``), an order of the last run (``OrderRestored``) and a settlement it
has checked with the account (``PositionSettled``).

Venue reports are outputs of the driver, never inputs of the journal: the journal holds
market events, so a replay through the same venue makes the same fills again, not twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from marketdata.model.events import Event, OrderUpdate, OwnFill
from trading.engine.intents import Intent, VenueNotice


@dataclass(frozen=True, slots=True)
class VenueReport:
    """One fill or the end of one order of ``lane``'s, as the exchange would say it, or a
    notice of the venue's (a position correction, a balance sync).

    ``reason`` says why an order ended short of its size ("partial": the rest cancelled,
    "no_liquidity", "market_closed", "cancelled", or a venue's own), "" otherwise: the
    operator sees it, the engine does not need it (the fills are the truth)."""

    kind: ClassVar[str] = "venue_report"
    lane: str
    update: OwnFill | OrderUpdate | VenueNotice
    reason: str = ""

    @property
    def ts(self) -> int:
        return self.update.ts

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "lane": self.lane,
            "reason": self.reason,
            "update": {"kind": self.update.kind, **_fields(self.update)},
        }


def _fields(update: OwnFill | OrderUpdate | VenueNotice) -> dict[str, Any]:
    return {name: getattr(update, name) for name in update.__dataclass_fields__}


class Venue(Protocol):
    """The driver's side of a venue. Everything runs on the driver's thread, in event
    time: a venue that waits for anything (the network) does so elsewhere and reports
    through ``on_event`` or ``execute_due``."""

    name: str

    @property
    def exchange_run(self) -> int | None:
        """An exchange account's venue: its start number (durable, one more at every
        start), which the driver gives the lane's engine (``Engine.trade_on_exchange``);
        None for a venue of the engine's own (paper)."""
        ...

    def submit(self, intent: Intent) -> Sequence[VenueReport]:
        """Take an order intent (place, close, cancel); reports anything already final."""
        ...

    def next_due_ts(self) -> int | None:
        """The event time of the venue's next due work; None when it has none."""
        ...

    def execute_due(self, now: int) -> Sequence[VenueReport]:
        """Do the work due at or before ``now``."""
        ...

    def on_event(self, event: Event) -> Sequence[VenueReport]:
        """See an event: market data for its books, account events for its orders."""
        ...

    def snapshot(self) -> Any:
        """Plain JSON a restart gives back to ``restore``."""
        ...

    def restore(self, state: Any) -> None: ...
