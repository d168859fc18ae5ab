"""What the engine reports: plain frozen data that ``to_dict`` turns into plain JSON.

Money is micro-dollars, prices YES-space price units, counts hundredths, times ms.
Ratios (OBI, ROC, ATR %, pnl fractions, the health score) are floats.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from marketdata.model.frozen import fast_init


class _Record:
    __slots__ = ()
    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}  # type: ignore[call-overload]


@fast_init
@dataclass(frozen=True, slots=True)
class Decision(_Record):
    """One entry evaluation of a lane, with every rule's outcome in evaluation order."""

    kind: ClassVar[str] = "decision"
    ts: int
    lane: str
    ticker: str | None
    direction: str | None  # set only when the entry was sent
    conviction: str
    # The sizer's conviction multiplier for ``conviction`` (params' conviction_mult_*:
    # 1.30 / 1.00 / 0.65 by default), on entries and skips alike; 0.0 for NONE
    # (domain.md §3.7's table). Never None here: the signal log's NULL marks older rows.
    size_mult: float
    driver: str
    reason: str  # "ENTRY", or the first rule that blocked
    rules: tuple[tuple[str, str], ...]
    obi: float | None
    roc: float | None
    atr_pct: float | None
    regime: str
    yes_price: int | None
    count: int
    params_hash: str


@fast_init
@dataclass(frozen=True, slots=True)
class CandleClosed(_Record):
    kind: ClassVar[str] = "candle_closed"
    ts: int
    start_ts: int
    interval_s: int
    open: float
    high: float
    low: float
    close: float
    tick_count: int


@fast_init
@dataclass(frozen=True, slots=True)
class RegimeChanged(_Record):
    kind: ClassVar[str] = "regime_changed"
    ts: int
    old: str
    new: str
    atr_pct: float | None
    smoothed_atr_pct: float | None


@fast_init
@dataclass(frozen=True, slots=True)
class BreakerChanged(_Record):
    kind: ClassVar[str] = "breaker_changed"
    ts: int
    lane: str
    reason: str  # "" = cleared
    halts: bool
    bankroll: int


@fast_init
@dataclass(frozen=True, slots=True)
class OrderDone(_Record):
    kind: ClassVar[str] = "order_done"
    ts: int
    lane: str
    client_order_id: str
    purpose: str
    requested: int
    filled: int


@fast_init
@dataclass(frozen=True, slots=True)
class PositionOpened(_Record):
    kind: ClassVar[str] = "position_opened"
    ts: int
    lane: str
    position_uid: str
    ticker: str
    direction: str
    count: int
    entry_yes_price: int  # volume-weighted, rounded to a price unit
    cost: int
    fees: int
    driver: str
    conviction: str
    entry_obi: float | None
    entry_roc: float | None
    regime: str
    params_hash: str
    entry_client_order_id: str  # the order whose first fill opened the position


@fast_init
@dataclass(frozen=True, slots=True)
class PositionUpdated(_Record):
    kind: ClassVar[str] = "position_updated"
    ts: int
    lane: str
    position_uid: str
    reason: str  # "entry_fill", "exit_fill", "recount" (the venue's correction) or "telemetry"
    count: int
    exit_yes_price: int | None  # executable exit price now
    pnl_frac: float | None
    mfe: float | None
    mae: float | None
    health_score: float | None
    cost: int  # premium basis of the open count, micro-dollars
    fees: int  # every fee paid so far on this position, entry and exit


# The fill source of a position the venue took from the lane (``Engine._correct``): it
# closed with no exit and no PnL of its own (quarantined under the correction's reason).
HANDED_OFF = "venue_correction"


@fast_init
@dataclass(frozen=True, slots=True)
class PositionClosed(_Record):
    """A round trip: the trade row."""

    kind: ClassVar[str] = "position_closed"
    ts: int
    lane: str
    position_uid: str
    ticker: str
    direction: str
    opened_ts: int
    count: int
    entry_yes_price: int
    exit_yes_price: int
    cost: int
    proceeds: int
    fees: int
    pnl: int
    pnl_frac: float
    reason: str
    fill_source: str
    mfe: float | None
    mae: float | None
    min_health_score: float | None
    driver: str
    conviction: str
    entry_obi: float | None
    entry_roc: float | None
    regime: str
    quarantine: str  # "" or RAPID_FIRE_LOOP / INSTANT_STOP_LOSS (bankroll effect reversed)
    params_hash: str
    exit_client_order_id: str  # the order of the last exit fill; "" when settled


@fast_init
@dataclass(frozen=True, slots=True)
class FeaturesCaptured(_Record):
    """Entry features (domain.md §7.1), keyed by position, emitted when the entry fills."""

    kind: ClassVar[str] = "features_captured"
    ts: int
    lane: str
    position_uid: str
    features: dict[str, float | int | None]


@fast_init
@dataclass(frozen=True, slots=True)
class LaneStatus(_Record):
    """A lane's money and breaker as they stand: after a close, a breaker change or an
    operator reset, and at every whole minute of event time. Persistence, the dashboard
    and the notifications read lanes from this record, never from the engine."""

    kind: ClassVar[str] = "lane_status"
    ts: int
    lane: str
    bankroll: int
    peak: int
    daily_start: int
    weekly_start: int
    drawdown: float  # fraction of the peak lost (≥ 0)
    daily_loss: float  # fraction of the day's baseline lost (≥ 0)
    weekly_loss: float  # fraction of the week's baseline lost (≥ 0)
    breaker: str  # "" = clear, else the trip reason
    halts: bool  # the trip stops this lane's entries (paper only with paper_breaker_halts)
    cooldown_until_ts: int | None  # no re-entry before this time
    position_uid: str | None  # the open position, if any
    params_hash: str  # of the parameters the lane decides with now


@fast_init
@dataclass(frozen=True, slots=True)
class MarketSnapshot(_Record):
    """The active contract and the signals' inputs once a second (the market card)."""

    kind: ClassVar[str] = "market_snapshot"
    ts: int
    ticker: str | None
    spot: float | None
    price_to_beat: float | None
    close_ts: int | None
    yes_bid: int | None
    yes_ask: int | None
    spread: int | None
    bid_volume: int
    ask_volume: int
    obi: float | None  # the latest one-second reading
    regime: str
    atr_pct: float | None


Record = (
    Decision
    | CandleClosed
    | RegimeChanged
    | BreakerChanged
    | OrderDone
    | PositionOpened
    | PositionUpdated
    | PositionClosed
    | FeaturesCaptured
    | LaneStatus
    | MarketSnapshot
)

# Fields of a trade that define it; volatile diagnostics stay out so the hash compares
# decisions and money, not telemetry.
TRADE_HASH_FIELDS = (
    "lane",
    "position_uid",
    "ticker",
    "direction",
    "opened_ts",
    "ts",
    "count",
    "entry_yes_price",
    "exit_yes_price",
    "cost",
    "proceeds",
    "fees",
    "pnl",
    "reason",
    "quarantine",
)


def trade_list_hash(records: Iterable[object]) -> str:
    """sha256 of the closed trades among ``records`` (in order): equal for equal trading."""
    digest = hashlib.sha256()
    for record in records:
        if isinstance(record, PositionClosed):
            row = {name: getattr(record, name) for name in TRADE_HASH_FIELDS}
            digest.update(json.dumps(row, sort_keys=True, separators=(",", ":")).encode())
            digest.update(b"\n")
    return digest.hexdigest()
