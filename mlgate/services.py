"""Writes of the trade-features table: a row at the entry, its label at the exit (§7.1–7.2).

The daemon queues ``capture`` and ``label`` on its batched writer (``mlgate.sink``), in
order, so the label always finds its row; a backtest writes its run's rows in one batch
(``store_run``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction

from mlgate.models import ModelVersion, TradeFeatures
from mlgate.predictor import artifact_sha256
from mlgate.training import TrainResult
from trading.engine.records import PositionClosed

LABEL_EPSILON = 1_000  # $0.001 in micro-dollars: |pnl| at or below it labels 0 (§7.2)


def label_of(pnl: int) -> int:
    """+1 won, −1 lost, 0 flat (within a tenth of a cent)."""
    if pnl > LABEL_EPSILON:
        return 1
    if pnl < -LABEL_EPSILON:
        return -1
    return 0


def outcome(record: PositionClosed) -> dict[str, Any]:
    """The exit's columns of a row (never features, BUG-026)."""
    return {
        "exit_ts_ms": record.ts,
        "label": label_of(record.pnl),
        "pnl": record.pnl,
        "mfe": record.mfe,
        "mae": record.mae,
        "exit_reason": record.reason,
    }


def capture(
    *,
    position_uid: str,
    lane: str,
    source: str,
    ticker: str,
    entry_ts_ms: int,
    features: Mapping[str, float | int | None],
) -> None:
    """The entry's row (a daemon's). A restart that replays the same entry keeps the first."""
    TradeFeatures.objects.get_or_create(
        position_uid=position_uid,
        run=None,
        defaults={
            "lane": lane,
            "source": source,
            "ticker": ticker,
            "entry_ts_ms": entry_ts_ms,
            "features": dict(features),
        },
    )


def label(*, position_uid: str, outcome: Mapping[str, Any]) -> int:
    """Label a daemon's row at the exit; returns the rows updated (0: its entry was not
    captured, e.g. a position opened before this table existed)."""
    return TradeFeatures.objects.filter(position_uid=position_uid, run=None).update(**outcome)


def store_run(
    *,
    run: int,
    data_source: str,
    features: Mapping[str, tuple[int, Mapping[str, float | int | None]]],
    trades: Iterable[PositionClosed],
) -> int:
    """A backtest run's rows: every trade whose entry features were captured, labelled.
    ``features``: position uid → (entry ts, features). Returns the rows written."""
    rows = [
        TradeFeatures(
            position_uid=trade.position_uid,
            lane=trade.lane,
            source="backtest",
            run=run,
            data_source=data_source,
            ticker=trade.ticker,
            entry_ts_ms=features[trade.position_uid][0],
            features=dict(features[trade.position_uid][1]),
            **outcome(trade),
        )
        for trade in trades
        if trade.position_uid in features
    ]
    TradeFeatures.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def save_model(
    result: TrainResult, *, source: str, lanes: Sequence[str], activate: bool
) -> ModelVersion:
    """A trained model as a version row (artifact bytes and everything that describes it);
    ``activate`` makes it the one the daemon loads, in one transaction with retiring the
    previous one."""
    with transaction.atomic():
        if activate:
            ModelVersion.objects.filter(active=True).update(active=False)
        return ModelVersion.objects.create(
            artifact=result.artifact,
            artifact_sha256=artifact_sha256(result.artifact),
            features=list(result.features),
            features_hash=result.features_hash,
            threshold=result.threshold,
            source=source,
            lanes=list(lanes),
            period_start_ms=result.period[0],
            period_end_ms=result.period[1],
            rows=result.rows,
            metrics=result.metrics,
            importances=result.importances,
            warnings=result.warnings,
            active=activate,
        )
