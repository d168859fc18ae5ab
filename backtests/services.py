"""Backtest run writes (HackSoft style: keyword-only ``<entity>_<action>``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
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
    status: str = RunStatus.RUNNING,
    requested_by: str = "",
) -> BacktestRun:
    return BacktestRun.objects.create(
        batch=batch,
        status=status,
        requested_by=requested_by,
        heartbeat_at=timezone.now() if status == RunStatus.RUNNING else None,
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


def runs_progress(*, batch: uuid.UUID, progress: float, events: int) -> bool:
    """Store the progress (a heartbeat too); True when an operator asked to cancel."""
    BacktestRun.objects.filter(batch=batch, status=RunStatus.RUNNING).update(
        progress=progress, events=events, heartbeat_at=timezone.now()
    )
    return BacktestRun.objects.filter(batch=batch, cancel_requested=True).exists()


def runs_of(*, batch: uuid.UUID, data: dict[str, Any]) -> list[BacktestRun]:
    """The running runs of ``batch`` in set order, with what they now run on."""
    BacktestRun.objects.filter(batch=batch, status=RunStatus.RUNNING).update(data=data)
    runs = list(BacktestRun.objects.filter(batch=batch, status=RunStatus.RUNNING).order_by("pk"))
    if not runs:
        raise ValueError(f"backtest batch {batch} has no running runs")
    return runs


def runs_heartbeat(*, batch: uuid.UUID) -> None:
    BacktestRun.objects.filter(batch=batch, status=RunStatus.RUNNING).update(
        heartbeat_at=timezone.now()
    )


def runs_begin(*, batch: uuid.UUID, data: dict[str, Any] | None = None) -> int:
    """Queued runs of ``batch`` start (a worker took them): how many did (0 when an
    operator cancelled them while queued)."""
    changes: dict[str, Any] = {"status": RunStatus.RUNNING, "heartbeat_at": timezone.now()}
    if data is not None:
        changes["data"] = data
    return BacktestRun.objects.filter(batch=batch, status=RunStatus.QUEUED).update(**changes)


def runs_fail(*, batch: uuid.UUID, error: str) -> None:
    BacktestRun.objects.filter(
        batch=batch, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)
    ).update(status=RunStatus.FAILED, error=error, finished_at=timezone.now())


def runs_mark_cancelled(*, batch: uuid.UUID) -> None:
    BacktestRun.objects.filter(
        batch=batch, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)
    ).update(
        status=RunStatus.CANCELLED,
        error="cancelled by an operator",
        finished_at=timezone.now(),
    )


def runs_request_cancel(*, batch: uuid.UUID) -> int:
    """Ask a pass to stop: queued runs are cancelled at once, running ones at the pass's
    next progress report. Returns how many runs were still queued or running."""
    with transaction.atomic():
        active = list(
            BacktestRun.objects.select_for_update().filter(
                batch=batch, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)
            )
        )
        BacktestRun.objects.filter(pk__in=[r.pk for r in active]).update(cancel_requested=True)
        BacktestRun.objects.filter(batch=batch, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELLED,
            error="cancelled by an operator before it started",
            finished_at=timezone.now(),
        )
    return len(active)


def runs_sweep_stale(*, stale_s: float) -> list[int]:
    """Running runs whose process gave no sign of life for ``stale_s`` seconds (a worker
    killed mid-run) are marked failed, so none stays "running" forever. Returns their ids."""
    cutoff = timezone.now() - timedelta(seconds=stale_s)
    with transaction.atomic():
        stale = list(
            BacktestRun.objects.select_for_update()
            .filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff)
            .values_list("pk", "heartbeat_at")
        )
        for pk, heartbeat in stale:
            BacktestRun.objects.filter(pk=pk, status=RunStatus.RUNNING).update(
                status=RunStatus.FAILED,
                error=f"worker lost: no sign of life since {heartbeat:%Y-%m-%d %H:%M:%S} UTC",
                finished_at=timezone.now(),
            )
    return [pk for pk, _ in stale]


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
    settlements: Mapping[str, str],
) -> None:
    """``settlements``: ticker → the contract's result (yes/no) where the data gave one."""
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
                entry_obi=t.entry_obi,
                entry_roc=t.entry_roc,
                contract_result=settlements.get(t.ticker, ""),
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
