"""Backtest run writes (HackSoft style: keyword-only ``<entity>_<action>``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from backtests.models import BacktestRun, BacktestTrade, RunStatus
from marketdata.model.units import count_to_decimal, micros_to_decimal, price_to_decimal
from marketdata.recorder.rows import ms_to_utc
from trading.engine.params import Params
from trading.engine.records import PositionClosed


def run_start(
    *,
    batch: uuid.UUID,
    name: str,
    lane: str,
    source: str,
    data: dict[str, Any],
    code_version: str,
    params: Params,
    start_ts: int,
    end_ts: int,
    bankroll: int,
) -> BacktestRun:
    return BacktestRun.objects.create(
        batch=batch,
        name=name,
        lane=lane,
        source=source,
        data=data,
        code_version=code_version,
        params=params.to_dict(),
        params_hash=params.params_hash(),
        period_start=ms_to_utc(start_ts),
        period_end=ms_to_utc(end_ts),
        bankroll=micros_to_decimal(bankroll),
    )


def runs_progress(*, batch: uuid.UUID, progress: float, events: int) -> None:
    BacktestRun.objects.filter(batch=batch, status=RunStatus.RUNNING).update(
        progress=progress, events=events
    )


def runs_fail(*, batch: uuid.UUID, error: str) -> None:
    BacktestRun.objects.filter(batch=batch, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED, error=error, finished_at=timezone.now()
    )


@transaction.atomic
def run_finish(
    *,
    run_id: int,
    data_sha256: str,
    events: int,
    seconds: float,
    trades: Sequence[PositionClosed],
    equity: Sequence[tuple[int, int]],
    metrics: dict[str, Any],
    attribution: dict[str, Any],
    trade_list_sha256: str,
) -> None:
    BacktestTrade.objects.bulk_create(
        [
            BacktestTrade(
                run_id=run_id,
                position_uid=t.position_uid,
                ticker=t.ticker,
                direction=t.direction,
                conviction=t.conviction,
                driver=t.driver,
                regime=t.regime,
                opened_at=ms_to_utc(t.opened_ts),
                closed_at=ms_to_utc(t.ts),
                contracts=count_to_decimal(t.count),
                entry_price=price_to_decimal(t.entry_yes_price),
                exit_price=price_to_decimal(t.exit_yes_price),
                entry_cost=micros_to_decimal(t.cost),
                exit_proceeds=micros_to_decimal(t.proceeds),
                fees=micros_to_decimal(t.fees),
                pnl=micros_to_decimal(t.pnl),
                pnl_pct=t.pnl_frac,
                exit_reason=t.reason,
                quarantine=t.quarantine,
            )
            for t in trades
        ],
        batch_size=2000,
    )
    updated = BacktestRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        status=RunStatus.DONE,
        data_sha256=data_sha256,
        events=events,
        seconds=seconds,
        progress=1.0,
        finished_at=timezone.now(),
        equity=[list(point) for point in equity],
        metrics=metrics,
        attribution=attribution,
        trade_list_sha256=trade_list_sha256,
    )
    if updated != 1:
        raise ValueError(f"backtest run {run_id} is not running")
