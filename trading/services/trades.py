"""What the daemon records: positions, closed trades, bankroll snapshots, the signal log and
each lane's restorable state. Keyword-only; called by the daemon, tasks, admin and tests.

Engine units in, database units out (interfaces.md §1): prices are ``int`` $0.0001 units
(YES space), counts ``int`` hundredths of a contract, money ``int`` micro-dollars and times
``int`` milliseconds since the epoch (UTC).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from marketdata.model.units import count_to_decimal, micros_to_decimal, price_to_decimal
from trading.engine.breaker import loss_fraction
from trading.models import (
    BankrollSnapshot,
    BotState,
    BreakerState,
    Decision,
    DecisionKind,
    Direction,
    Lane,
    OpenPosition,
    Trade,
)


def ms_to_datetime(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


_CHOICES: dict[str, type[models.TextChoices]] = {
    "lane": Lane,
    "direction": Direction,
    "kind": DecisionKind,
    "breaker_state": BreakerState,
}


def _check_choices(**values: str) -> None:
    """Refuse an unknown lane, direction, kind or breaker state before it reaches a row."""
    for name, value in values.items():
        choices = _CHOICES[name]
        if value not in choices.values:
            raise ValueError(f"{name}: {value!r} is not one of {', '.join(choices.values)}")


def _optional_dt(ms: int | None) -> dt.datetime | None:
    return None if ms is None else ms_to_datetime(ms)


def _optional_price(price: int | None) -> Any:
    return None if price is None else price_to_decimal(price)


# --- positions and trades ----------------------------------------------------------------


def open_positions_reconcile(
    *, lanes: list[str], held: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """At a start, the stored open positions against those the restored engine holds
    (``held``: ``position_open``'s fields of each). A held position without its row (the
    row was lost with a crash) gets it; a row the engine does not hold is reported (never
    deleted or booked: its money is not known here), so the operator sees it."""
    with transaction.atomic():
        stored = set(
            OpenPosition.objects.filter(lane__in=lanes).values_list("position_uid", flat=True)
        )
        written = []
        for fields in held:
            if fields["position_uid"] not in stored:
                position_open(**fields)
                written.append(fields["position_uid"])
    held_uids = {fields["position_uid"] for fields in held}
    return {"rows_written": written, "rows_not_held": sorted(stored - held_uids)}


def position_open(
    *,
    lane: str,
    position_uid: str,
    ticker: str,
    direction: str,
    contracts: int,
    entry_price: int,
    opened_at_ms: int,
    cost: int,
    fees: int = 0,
    stop_price: int | None = None,
    target_price: int | None = None,
    conviction: str = "",
    driver: str = "",
    regime: str = "",
    entry_obi: float | None = None,
    entry_roc: float | None = None,
    reasons: dict[str, Any] | None = None,
    params_hash: str = "",
    entry_client_order_id: str = "",
) -> OpenPosition:
    _check_choices(lane=lane, direction=direction)
    return OpenPosition.objects.create(
        lane=lane,
        position_uid=position_uid,
        ticker=ticker,
        direction=direction,
        contracts=count_to_decimal(contracts),
        entry_price=price_to_decimal(entry_price),
        opened_at=ms_to_datetime(opened_at_ms),
        cost=micros_to_decimal(cost),
        fees=micros_to_decimal(fees),
        stop_price=_optional_price(stop_price),
        target_price=_optional_price(target_price),
        conviction=conviction,
        driver=driver,
        regime=regime,
        entry_obi=entry_obi,
        entry_roc=entry_roc,
        reasons=reasons or {},
        params_hash=params_hash,
        entry_client_order_id=entry_client_order_id,
    )


def position_update(
    *,
    position_uid: str,
    contracts: int | None = None,
    cost: int | None = None,
    fees: int | None = None,
    stop_price: int | None = None,
    target_price: int | None = None,
) -> bool:
    """Change what moved (partial fills, fees, a moved stop). False when no such position."""
    changes: dict[str, Any] = {}
    if contracts is not None:
        changes["contracts"] = count_to_decimal(contracts)
    if cost is not None:
        changes["cost"] = micros_to_decimal(cost)
    if fees is not None:
        changes["fees"] = micros_to_decimal(fees)
    if stop_price is not None:
        changes["stop_price"] = price_to_decimal(stop_price)
    if target_price is not None:
        changes["target_price"] = price_to_decimal(target_price)
    changes["updated_at"] = timezone.now()
    return OpenPosition.objects.filter(position_uid=position_uid).update(**changes) == 1


def position_close(
    *,
    position_uid: str,
    exit_price: int,
    closed_at_ms: int,
    exit_proceeds: int,
    fees: int,
    pnl: int,
    exit_reason: str,
    exit_client_order_id: str = "",
    fill_source: str = "",
    quarantined: bool = False,
    error_reason: str = "",
    data_quality_flag: str = "",
    entry_cost: int | None = None,
    contracts: int | None = None,
) -> Trade:
    """Delete the open position and write its trade row, in one transaction.

    ``fees`` is the round trip's total, ``pnl`` is net of it (micro-dollars).
    ``entry_cost`` and ``contracts`` are the round trip's whole (what was bought): the open
    row holds only what was still open at the last partial exit.
    """
    with transaction.atomic():
        position = OpenPosition.objects.select_for_update().get(position_uid=position_uid)
        trade = _trade_create(
            lane=position.lane,
            ticker=position.ticker,
            direction=position.direction,
            conviction=position.conviction,
            driver=position.driver,
            regime=position.regime,
            entry_price=position.entry_price,
            exit_price=price_to_decimal(exit_price),
            opened_at=position.opened_at,
            closed_at=ms_to_datetime(closed_at_ms),
            contracts=position.contracts if contracts is None else count_to_decimal(contracts),
            entry_cost=position.cost if entry_cost is None else micros_to_decimal(entry_cost),
            exit_proceeds=micros_to_decimal(exit_proceeds),
            fees=micros_to_decimal(fees),
            pnl=micros_to_decimal(pnl),
            exit_reason=exit_reason,
            entry_obi=position.entry_obi,
            entry_roc=position.entry_roc,
            reasons=position.reasons,
            params_hash=position.params_hash,
            position_uid=position.position_uid,
            entry_client_order_id=position.entry_client_order_id,
            exit_client_order_id=exit_client_order_id,
            fill_source=fill_source,
            quarantined=quarantined,
            error_reason=error_reason,
            data_quality_flag=data_quality_flag,
        )
        position.delete()
    return trade


def trade_record(
    *,
    lane: str,
    ticker: str,
    direction: str,
    entry_price: int,
    exit_price: int,
    opened_at_ms: int,
    closed_at_ms: int,
    contracts: int,
    entry_cost: int,
    exit_proceeds: int,
    fees: int,
    pnl: int,
    exit_reason: str,
    position_uid: str,
    conviction: str = "",
    driver: str = "",
    regime: str = "",
    entry_obi: float | None = None,
    entry_roc: float | None = None,
    reasons: dict[str, Any] | None = None,
    params_hash: str = "",
    entry_client_order_id: str = "",
    exit_client_order_id: str = "",
    fill_source: str = "",
    quarantined: bool = False,
    error_reason: str = "",
    data_quality_flag: str = "",
) -> Trade:
    """A closed trade without a stored open position (orphans, backfills, tests)."""
    _check_choices(lane=lane, direction=direction)
    return _trade_create(
        lane=lane,
        ticker=ticker,
        direction=direction,
        conviction=conviction,
        driver=driver,
        regime=regime,
        entry_price=price_to_decimal(entry_price),
        exit_price=price_to_decimal(exit_price),
        opened_at=ms_to_datetime(opened_at_ms),
        closed_at=ms_to_datetime(closed_at_ms),
        contracts=count_to_decimal(contracts),
        entry_cost=micros_to_decimal(entry_cost),
        exit_proceeds=micros_to_decimal(exit_proceeds),
        fees=micros_to_decimal(fees),
        pnl=micros_to_decimal(pnl),
        exit_reason=exit_reason,
        entry_obi=entry_obi,
        entry_roc=entry_roc,
        reasons=reasons or {},
        params_hash=params_hash,
        position_uid=position_uid,
        entry_client_order_id=entry_client_order_id,
        exit_client_order_id=exit_client_order_id,
        fill_source=fill_source,
        quarantined=quarantined,
        error_reason=error_reason,
        data_quality_flag=data_quality_flag,
    )


def _trade_create(**fields: Any) -> Trade:
    entry_cost = fields["entry_cost"]
    fields["pnl_pct"] = float(fields["pnl"] / entry_cost) if entry_cost else 0.0
    fields["held_s"] = int((fields["closed_at"] - fields["opened_at"]).total_seconds())
    if fields["quarantined"] or fields["data_quality_flag"]:
        fields["flagged_at"] = timezone.now()
    return Trade.objects.create(**fields)


def trade_quarantine(*, trade_id: int, error_reason: str) -> bool:
    """Move a recorded trade out of the aggregates, keeping it visible with its reason."""
    updated = Trade.objects.filter(pk=trade_id, quarantined=False).update(
        quarantined=True, error_reason=error_reason[:200], flagged_at=timezone.now()
    )
    return updated == 1


# --- bankroll, decisions, lane state -----------------------------------------------------


def bankroll_record(
    *,
    lane: str,
    ts_ms: int,
    bankroll: int,
    peak: int,
    daily_pnl: int,
    trade_count: int,
) -> BankrollSnapshot:
    _check_choices(lane=lane)
    drawdown = loss_fraction(peak, bankroll)
    return BankrollSnapshot.objects.create(
        lane=lane,
        ts=ms_to_datetime(ts_ms),
        bankroll=micros_to_decimal(bankroll),
        peak=micros_to_decimal(peak),
        drawdown=drawdown,
        daily_pnl=micros_to_decimal(daily_pnl),
        trade_count=trade_count,
    )


def decision_record(
    *,
    lane: str,
    ts_ms: int,
    kind: str,
    ticker: str = "",
    direction: str = "",
    conviction: str = "",
    size_mult: float | None = None,
    driver: str = "",
    obi: float | None = None,
    roc: float | None = None,
    regime: str = "",
    spread_state: str = "",
    skip_reason: str = "",
    reasons: dict[str, Any] | None = None,
    params_hash: str = "",
) -> Decision:
    """One signal-log row. Use ``DecisionLogGate`` to decide which evaluations to keep."""
    _check_choices(lane=lane, kind=kind)
    return Decision.objects.create(
        lane=lane,
        ts=ms_to_datetime(ts_ms),
        kind=kind,
        ticker=ticker,
        direction=direction,
        conviction=conviction,
        size_mult=size_mult,
        driver=driver,
        obi=obi,
        roc=roc,
        regime=regime,
        spread_state=spread_state,
        skip_reason=skip_reason[:64],
        reasons=reasons or {},
        params_hash=params_hash,
    )


class DecisionLogGate:
    """Which evaluations reach the signal log: entries and exits always, a changed decision
    always, otherwise at most one row per second per lane (the engine evaluates on every
    book update, and logging each would be ~100 rows a second)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, tuple[str, str, str]]] = {}

    def kind_for(
        self,
        *,
        lane: str,
        ts_ms: int,
        direction: str,
        skip_reason: str,
        conviction: str = "",
        entered: bool = False,
        exited: bool = False,
    ) -> str | None:
        """The row kind to record for this evaluation, or None to skip it."""
        key = (direction, skip_reason, conviction)
        previous = self._last.get(lane)
        if entered:
            kind: str | None = DecisionKind.ENTRY
        elif exited:
            kind = DecisionKind.EXIT
        elif previous is None or previous[1] != key:
            kind = DecisionKind.CHANGE
        elif ts_ms - previous[0] >= 1000:
            kind = DecisionKind.SAMPLE
        else:
            kind = None
        if kind is not None:
            self._last[lane] = (ts_ms, key)
        return kind


def bot_state_save(
    *,
    lane: str,
    bankroll: int,
    peak: int,
    daily_baseline: int,
    weekly_baseline: int,
    daily_baseline_at_ms: int | None = None,
    weekly_baseline_at_ms: int | None = None,
    breaker_state: str = BreakerState.OK,
    breaker_tripped_at_ms: int | None = None,
    cooldown_until_ms: int | None = None,
    cooldowns: dict[str, Any] | None = None,
    trades_today: int = 0,
    engine_snapshot: dict[str, Any] | None = None,
    snapshot_at_ms: int | None = None,
) -> BotState:
    """Upsert a lane's restorable state. Never touches the operator's reset request fields."""
    _check_choices(lane=lane, breaker_state=breaker_state)
    state, _ = BotState.objects.update_or_create(
        lane=lane,
        defaults={
            "bankroll": micros_to_decimal(bankroll),
            "peak": micros_to_decimal(peak),
            "daily_baseline": micros_to_decimal(daily_baseline),
            "weekly_baseline": micros_to_decimal(weekly_baseline),
            "daily_baseline_at": _optional_dt(daily_baseline_at_ms),
            "weekly_baseline_at": _optional_dt(weekly_baseline_at_ms),
            "breaker_state": breaker_state,
            "breaker_tripped_at": _optional_dt(breaker_tripped_at_ms),
            "cooldown_until": _optional_dt(cooldown_until_ms),
            "cooldowns": cooldowns or {},
            "trades_today": trades_today,
            "engine_snapshot": engine_snapshot or {},
            "snapshot_at": _optional_dt(snapshot_at_ms),
        },
    )
    return state
