"""Writes of the trade-features table: a row at the entry, its label at the exit (§7.1–7.2).

The daemon queues ``capture`` and ``label`` on its batched writer (``mlgate.sink``), in
order, so the label always finds its row; a backtest writes its run's rows in one batch
(``store_run``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import structlog
from django.db import transaction

from mlgate.models import ModelVersion, ReadinessNotice, TradeFeatures
from mlgate.predictor import GatePredictor, artifact_sha256
from mlgate.training import MIN_PRECISION, TrainResult, features_hash
from trading.engine.records import PositionClosed

log = structlog.get_logger(__name__)

READY_ROWS = 500  # labelled paper rows with MFE and MAE that make the data ready (§7.4)
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


def load_active_predictor() -> tuple[GatePredictor | None, str]:
    """The active model version as a predictor for the daemon, or (None, why not): no
    active version (""), or one that cannot be used (its error)."""
    version = ModelVersion.objects.filter(active=True).first()
    if version is None:
        log.info("ml_gate_no_model")
        return None, ""
    return load_predictor(version)


def load_predictor(
    version: ModelVersion, *, below_floor: bool = False
) -> tuple[GatePredictor | None, str]:
    """``version`` as a predictor, or (None, why it cannot be used). Logged either way with
    the figures an operator checks (BUG-033): precision, rows, source, artifact hash.
    ``below_floor``: an evaluation backtest may measure a model below the precision floor
    (the daemon never loads one)."""
    try:
        artifact = bytes(version.artifact)
        if artifact_sha256(artifact) != version.artifact_sha256:
            raise ValueError("artifact bytes do not match their sha256")
        if version.features_hash != features_hash(version.features):
            raise ValueError("feature list does not match its hash")
        precision = version.metrics.get("oos_precision")
        if not isinstance(precision, float | int):
            raise ValueError(f"OOS precision missing: {precision!r}")
        if precision < MIN_PRECISION and not below_floor:
            raise ValueError(f"OOS precision {precision} is below the floor {MIN_PRECISION}")
        predictor = GatePredictor(artifact, version.features, version.threshold, str(version.pk))
    except Exception as exc:  # any unusable model: fail open, say why (§7.4)
        error = f"model {version.pk}: {type(exc).__name__}: {exc}"[:240]
        log.error("ml_gate_load_failed", error=error)
        return None, error
    log.info(
        "ml_gate_model_loaded",
        model=version.pk,
        precision=precision,
        rows=version.rows,
        source=version.source,
        threshold=version.threshold,
        artifact_sha256=version.artifact_sha256,
    )
    return predictor, ""


class _NotSent(Exception):
    pass


def readiness_check(mode: str = "paper") -> bool:
    """The one-shot readiness notification (§7.4): once ``READY_ROWS`` of the daemon's
    ``mode`` rows carry a label, MFE and MAE, post "ML data ready" with the win rate, once.
    The notice row is written in the transaction that posts it: a channel that is off (no
    post) leaves no row, so the notice goes out when the channel is configured; a second
    check waits on the row's unique key and finds it sent. True when it posted now."""
    from trading.notifications.jobs import notify_ml_ready

    ready = TradeFeatures.objects.filter(
        run__isnull=True, source=mode, label__isnull=False, mfe__isnull=False, mae__isnull=False
    )
    rows = ready.count()
    if rows < READY_ROWS or ReadinessNotice.objects.filter(mode=mode).exists():
        return False
    wins = ready.filter(label=1).count()
    try:
        with transaction.atomic():
            _, created = ReadinessNotice.objects.get_or_create(
                mode=mode, defaults={"rows": rows, "win_rate": wins / rows}
            )
            if not created:
                return False
            text = (
                f"{rows} labelled {mode} rows (win rate {wins / rows:.1%}): the entry gate "
                "can be trained (manage.py train_gate)."
            )
            if not notify_ml_ready(mode=mode, rows=rows, text=text):
                raise _NotSent
    except _NotSent:
        return False
    log.info("ml_ready_notified", mode=mode, rows=rows)
    return True
