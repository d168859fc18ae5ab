"""Per-lane state: bankroll and breaker, the open position, orders in flight, cooldowns.

A position exists only once an entry order has filled (fills arrive later, from the
venue). Accounting is exact in micro-dollars: ``cost`` is the premium paid for the open
count (long: YES price, short: NO price), fees are the venue's per-fill fees. Each exit
fill realises its share of cost and entry fees into the bankroll.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field, fields
from fractions import Fraction
from typing import Any, Literal

from marketdata.model.units import PRICE_MAX
from trading.engine.breaker import Breaker
from trading.engine.exits import ExitThresholds
from trading.engine.intents import Purpose
from trading.engine.params import Params
from trading.engine.records import PositionClosed, PositionOpened
from trading.engine.shared_keys import ROC_SIGNAL_PARAMS, VERDICT_PARAMS, share_key
from trading.engine.signals import Direction


def round_half_up(value: Fraction) -> int:
    return int((value + Fraction(1, 2)).__floor__())


@dataclass(slots=True)
class PendingOrder:
    client_order_id: str
    purpose: Purpose
    ticker: str
    direction: Direction
    count: int
    yes_price: int
    ts: int
    filled: int = 0
    cancel_sent: bool = False
    # entry context, copied onto the position when it fills
    driver: str = ""
    conviction: str = ""
    entry_obi: float | None = None
    entry_roc: float | None = None
    regime: str = ""
    features: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Position:
    uid: str
    ticker: str
    direction: Direction
    opened_ts: int
    driver: str
    conviction: str
    entry_obi: float | None
    entry_roc: float | None
    regime: str
    count: int = 0  # open, hundredths
    filled_count: int = 0  # total bought
    cost: int = 0  # premium basis of the open count, micro-dollars
    entry_fees: int = 0  # entry fees of the open count not yet realised
    total_cost: int = 0
    fees: int = 0  # all fees paid, entry and exit
    proceeds: int = 0
    realized: int = 0  # net PnL realised so far (already in the bankroll)
    exit_notional: int = 0  # Σ YES price × count over exit fills (for the exit VWAP)
    exit_count: int = 0
    mfe: float | None = None
    mae: float | None = None
    min_health: float | None = None
    last_health: float | None = None
    breaches: int = 0
    exit_reason: str = ""  # latched once an exit rule fired: retries keep it
    # How far this position's realised PnL raised the lane's peak bankroll (since the last
    # operator reset): a quarantine reversal takes it back with the PnL.
    peak_raised: int = 0
    last_telemetry_ts: int = 0
    exit_client_order_id: str = ""  # the order of the latest exit fill
    entry_client_order_id: str = ""  # the order whose first fill opened it
    # ROC of the exit candles completed at the entry: MOMENTUM_STALL's reference.
    entry_exit_roc: float | None = None

    @property
    def long(self) -> bool:
        return self.direction == "LONG"

    def entry_yes_price(self) -> Fraction:
        """Volume-weighted YES-space entry price (exact)."""
        paid = Fraction(self.total_cost, self.filled_count)
        return paid if self.long else PRICE_MAX - paid

    def premium(self, yes_price: int) -> int:
        return yes_price if self.long else PRICE_MAX - yes_price

    def add_entry_fill(self, yes_price: int, count: int, fee: int) -> None:
        paid = self.premium(yes_price) * count
        self.count += count
        self.filled_count += count
        self.cost += paid
        self.total_cost += paid
        self.entry_fees += fee
        self.fees += fee

    def add_exit_fill(self, yes_price: int, count: int, fee: int) -> int:
        """Realise ``count`` of the open size at ``yes_price``; returns the net PnL."""
        count = min(count, self.count)
        share_cost = self.cost if count == self.count else self.cost * count // self.count
        share_fees = (
            self.entry_fees if count == self.count else self.entry_fees * count // self.count
        )
        proceeds = self.premium(yes_price) * count
        pnl = proceeds - share_cost - share_fees - fee
        self.count -= count
        self.cost -= share_cost
        self.entry_fees -= share_fees
        self.proceeds += proceeds
        self.fees += fee
        self.realized += pnl
        self.exit_notional += yes_price * count
        self.exit_count += count
        return pnl

    def recount(self, count: int) -> None:
        """The exchange holds ``count`` of the open size (> 0): the open cost and entry fees
        scale to it at their average, and what was bought moves by the same difference, so
        the trade's record describes what was held."""
        cost = self.cost * count // self.count
        entry_fees = self.entry_fees * count // self.count
        self.filled_count += count - self.count
        self.total_cost += cost - self.cost
        self.fees += entry_fees - self.entry_fees
        self.count, self.cost, self.entry_fees = count, cost, entry_fees

    def gain_at(self, yes_price: int) -> int:
        """Micro-dollars gained (gross of fees) by selling the open count at ``yes_price``."""
        return self.premium(yes_price) * self.count - self.cost

    def gain_at_mid(self, best_yes_bid: int, best_yes_ask: int) -> int:
        """Twice the gain (gross of fees) at the mid, in micro-dollars: doubled so that a
        mid between two price units stays exact. Compare it with ``2 × cost``."""
        doubled_mid = best_yes_bid + best_yes_ask
        premium = doubled_mid if self.long else 2 * PRICE_MAX - doubled_mid
        return premium * self.count - 2 * self.cost

    def track(self, pnl_frac: float) -> None:
        self.mfe = pnl_frac if self.mfe is None else max(self.mfe, pnl_frac)
        self.mae = pnl_frac if self.mae is None else min(self.mae, pnl_frac)

    def opened_record(
        self, ts: int, lane: str, params_hash: str, entry_client_order_id: str
    ) -> PositionOpened:
        return PositionOpened(
            ts=ts,
            lane=lane,
            position_uid=self.uid,
            ticker=self.ticker,
            direction=self.direction,
            count=self.count,
            entry_yes_price=round_half_up(self.entry_yes_price()),
            cost=self.total_cost,
            fees=self.fees,
            driver=self.driver,
            conviction=self.conviction,
            entry_obi=self.entry_obi,
            entry_roc=self.entry_roc,
            regime=self.regime,
            params_hash=params_hash,
            entry_client_order_id=entry_client_order_id,
        )

    def closed_record(
        self, ts: int, lane: str, *, fill_source: str, quarantine: str, params_hash: str
    ) -> PositionClosed:
        exit_vwap = Fraction(self.exit_notional, self.exit_count) if self.exit_count else 0
        return PositionClosed(
            ts=ts,
            lane=lane,
            position_uid=self.uid,
            ticker=self.ticker,
            direction=self.direction,
            opened_ts=self.opened_ts,
            count=self.filled_count,
            entry_yes_price=round_half_up(self.entry_yes_price()),
            exit_yes_price=round_half_up(Fraction(exit_vwap)),
            cost=self.total_cost,
            proceeds=self.proceeds,
            fees=self.fees,
            pnl=self.realized,
            pnl_frac=self.realized / self.total_cost if self.total_cost else 0.0,
            reason=self.exit_reason,
            fill_source=fill_source,
            mfe=self.mfe,
            mae=self.mae,
            min_health_score=self.min_health,
            driver=self.driver,
            conviction=self.conviction,
            entry_obi=self.entry_obi,
            entry_roc=self.entry_roc,
            regime=self.regime,
            quarantine=quarantine,
            params_hash=params_hash,
            exit_client_order_id=self.exit_client_order_id,
        )


LaneKind = Literal["paper", "live", "research"]
LANE_KINDS: tuple[LaneKind, ...] = ("paper", "live", "research")


@dataclass(frozen=True)
class LaneSpec:
    """A lane of an engine: its name, its kind and its parameters (None: the engine's).

    The kind, not the name, makes a lane live: the contract cap, the breaker's power to
    halt (paper and research halt only with ``paper_breaker_halts``) and rapid-fire
    quarantine. A research lane trades on paper like a paper lane; ``decisions`` off spares
    it the per-second decision records that only an operator reads (its entries are still
    recorded), so a flat lane that sees no signal costs little."""

    name: str
    kind: LaneKind = "paper"
    params: Params | None = None
    decisions: bool = True

    @classmethod
    def of(cls, lane: str | LaneSpec) -> LaneSpec:
        if isinstance(lane, LaneSpec):
            return lane
        return cls(lane, "live" if lane == "live" else "paper")


class Lane:
    """One trader: its bankroll and breaker, position, orders and cooldowns, decided with
    its own (lane) parameters over the engine's shared market."""

    def __init__(
        self,
        name: str,
        bankroll: int,
        *,
        kind: LaneKind = "paper",
        params: Params | None = None,
        decisions: bool = True,
    ) -> None:
        if kind not in LANE_KINDS:
            raise ValueError(f"lane {name}: kind must be one of {', '.join(LANE_KINDS)}")
        self.name = name
        self.kind = kind
        self.live = kind == "live"
        self.decisions = decisions
        self.set_params(params or Params())
        self.breaker = Breaker.fresh(bankroll)
        self.position: Position | None = None
        self.orders: dict[str, PendingOrder] = {}
        self.last_exit_ts: int | None = None
        self.recent_exits: deque[int] = deque()
        self.seq = 0
        # Set by the driver (``Engine.trade_on_exchange``), never saved: the start number of
        # the lane's exchange venue, or None for a venue of the engine's own (paper).
        self.exchange_run: int | None = None

    def next_id(self, prefix: str, ts: int) -> str:
        """A new order id or position uid. On an exchange it carries the run: a restart
        from a saved state older than its last orders counts ``seq`` again from there."""
        self.seq += 1
        if self.exchange_run is None:
            return f"{prefix}-{self.name}-{ts}-{self.seq}"
        return f"{prefix}-{self.name}-s{self.exchange_run}-{ts}-{self.seq}"

    def order_in_flight(self, purpose: Purpose) -> PendingOrder | None:
        for order in self.orders.values():
            if order.purpose == purpose:
                return order
        return None

    def quarantine(self, position: Position, now: int, params: Params) -> str:
        """Live only (domain.md §3.18): a rapid-fire loop or an instant stop."""
        window = params.rapid_fire_window_s * 1000
        self.recent_exits.append(now)
        while self.recent_exits and self.recent_exits[0] <= now - window:
            self.recent_exits.popleft()
        if not self.live:
            return ""
        if len(self.recent_exits) >= params.rapid_fire_exits:
            return "RAPID_FIRE_LOOP"
        held = now - position.opened_ts
        if position.exit_reason == "STOP_LOSS" and held < params.min_hold_s * 1000:
            return "INSTANT_STOP_LOSS"
        return ""

    # --- persistence ---------------------------------------------------------------------

    def set_params(self, params: Params) -> None:
        self.params = params
        self.params_hash = params.params_hash()
        self.thresholds = ExitThresholds.of(params)
        # What this lane shares with lanes of the same values (``shared_keys``).
        self.roc_key = share_key(params, ROC_SIGNAL_PARAMS)
        self.verdict_key = share_key(params, VERDICT_PARAMS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "breaker": self.breaker.to_dict(),
            "position": asdict(self.position) if self.position else None,
            "last_exit_ts": self.last_exit_ts,
            "recent_exits": list(self.recent_exits),
            "seq": self.seq,
            "orders": [asdict(order) for order in self.orders.values()],
        }

    @classmethod
    def from_dict(
        cls, name: str, data: dict[str, Any], *, params: Params, decisions: bool = True
    ) -> Lane:
        # snapshots from before lanes had kinds: the name said it
        kind: LaneKind = data.get("kind") or ("live" if name == "live" else "paper")
        lane = cls(name, 0, kind=kind, params=params, decisions=decisions)
        lane.breaker = Breaker.from_dict(data["breaker"])
        lane.position = _position(data["position"]) if data["position"] else None
        lane.last_exit_ts = data["last_exit_ts"]
        lane.recent_exits = deque(data["recent_exits"])
        lane.seq = data["seq"]
        for saved in data.get("orders", ()):  # absent from snapshots of older versions
            order = PendingOrder(**saved)
            lane.orders[order.client_order_id] = order
        return lane


_POSITION_FIELDS = frozenset(f.name for f in fields(Position))


def _position(data: dict[str, Any]) -> Position:
    """A saved position; keys of older versions (``settle_reason``) are dropped."""
    return Position(**{k: v for k, v in data.items() if k in _POSITION_FIELDS})
