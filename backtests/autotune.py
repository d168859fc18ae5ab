"""The auto-tuner (domain.md §4.5): every 6 hours (beat, editable in the admin) a
walk-forward over recent data with the tuner grid centred on the current parameters, the
safety rules and clamps, and a stored recommendation with its evidence. **Never applied by
itself**: an operator applies it per lane from the admin or the API (audited; it becomes
overrides through ``trading.services.controls``).

Compute budget: the task lowers its own priority (``os.nice``; a worker process cannot
raise it again, so run the tuner on its own worker: ``celery worker -Q tuning``... or
accept a niced worker) and asks no new batch after ``BUDGET_S`` wall seconds; its Celery
time limit stops it outright a little later. The grid has 3,125 sets: the tuner draws
``TRIALS`` of them (seeded random, in batches), as many as the budget allows.

Data: the recorded journal when it covers the period, else the 1-minute history (the
``KBTC_HISTORY`` file, else the candles table) up to its newest bar (simulated books; the
recommendation's evidence says so). Fewer than ``MIN_CANDLES`` 15-minute candles (§4.5's
2,000): skipped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backtests.models import (
    RecommendationStatus,
    StudyStatus,
    TuningRecommendation,
    WalkForwardStudy,
)

log = structlog.get_logger(__name__)

# §4.5 safety thresholds
MIN_CONSISTENCY = 0.5
MIN_OOS_SHARPE = 0.8
# §4.5: the largest change one recommendation may make to each parameter
MAX_SHIFT: dict[str, float] = {
    "obi_long_threshold": 0.05,
    "obi_short_threshold": 0.05,
    "roc_lookback": 1,
    "roc_long_threshold": 0.1,
    "roc_short_threshold": 0.1,
    "risk_per_trade_frac": 0.005,
    "stop_loss_frac": 0.005,
    "profit_target_mult": 0.25,
}
# the tuner's walk-forward: 36/5/5-day windows (the original's 3,500/500/500 candles),
# three windows; a seeded draw of the tuner grid within a wall-time budget
TRAIN_DAYS, TEST_DAYS, STEP_DAYS, WINDOWS = 36, 5, 5, 3
TRIALS, BATCH = 30, 10
BUDGET_S = 3600.0
NICE = 10
MIN_CANDLES = 2000
DAY_MS = 86_400_000


# --- the safety rules and clamps (pure) ---------------------------------------------------


def clamp(name: str, current: Any, proposed: Any) -> Any:
    """``proposed`` moved at most ``MAX_SHIFT[name]`` away from ``current`` (unclamped
    parameters pass as proposed)."""
    shift = MAX_SHIFT.get(name)
    if shift is None or isinstance(proposed, bool) or not isinstance(proposed, int | float):
        return proposed
    low, high = current - shift, current + shift
    value = min(max(proposed, low), high)
    return type(proposed)(round(value, 10)) if isinstance(proposed, float) else int(value)


@dataclass(frozen=True, slots=True)
class Verdict:
    changes: dict[str, Any]  # clamped
    should_apply: bool
    reasons: list[str]


def safety(
    current: Mapping[str, Any], proposed: Mapping[str, Any], diagnosis: Mapping[str, Any]
) -> Verdict:
    """§4.5: no change → not applied; edge consistency < 0.5 → no; average out-of-sample
    Sharpe < 0.8 → no; otherwise every change clamped to its largest shift, apply."""
    changes = {
        name: clamp(name, current[name], value)
        for name, value in proposed.items()
        if name in current and value != current[name]
    }
    changes = {name: value for name, value in changes.items() if value != current[name]}
    reasons = []
    if not changes:
        reasons.append("no changes: the walk-forward keeps the current values")
    consistency = float(diagnosis.get("edge_consistency", 0.0))
    if consistency < MIN_CONSISTENCY:
        reasons.append(f"edge consistency {consistency:.2f} < {MIN_CONSISTENCY}")
    sharpe = float(diagnosis.get("avg_test_sharpe", 0.0))
    if sharpe < MIN_OOS_SHARPE:
        reasons.append(f"average out-of-sample Sharpe {sharpe:.2f} < {MIN_OOS_SHARPE}")
    if reasons:
        return Verdict(changes, should_apply=False, reasons=reasons)
    return Verdict(
        changes,
        should_apply=True,
        reasons=["passes the safety rules; each change clamped to its largest shift"],
    )


# --- the cycle ------------------------------------------------------------------------------


def tuning_period(now_ms: int) -> dict[str, Any] | str:
    """The data options of the newest data that fills the windows (``StudyRequest``
    fields), or why there is none: the journal when it covers the period, else the event
    archive's newest unbroken days, else the 1-minute history."""
    from marketdata.models import Candle, RecordedEvent
    from marketdata.recorder.rows import utc_to_ms

    days = TRAIN_DAYS + TEST_DAYS + (WINDOWS - 1) * STEP_DAYS
    span = days * DAY_MS
    if days * 96 < MIN_CANDLES:
        return f"{days} days are fewer than {MIN_CANDLES} 15-minute candles"
    first = RecordedEvent.objects.order_by("ts").values_list("ts", flat=True).first()
    last = RecordedEvent.objects.order_by("-ts").values_list("ts", flat=True).first()
    if first is not None and last is not None:
        end = utc_to_ms(last) // 3_600_000 * 3_600_000
        if end - utc_to_ms(first) >= span:
            return {"source": "journal", "start_ts": end - span, "end_ts": end}
    archived = _archive_end(days)
    if archived is not None:
        root, end = archived
        return {"source": "archive", "archive_dir": root, "stream": "journal",
                "start_ts": end - span, "end_ts": end}  # fmt: skip
    history = settings.KBTC["HISTORY"]
    if history and history != "table":
        end = _file_end(str(history))
    else:
        newest = (
            Candle.objects.filter(interval_s=60)
            .order_by("-open_time")
            .values_list("open_time", flat=True)
            .first()
        )
        if newest is None:
            return "no journal covering the period and no 1-minute history"
        end = utc_to_ms(newest)
        history = "table"
    end = min(end, now_ms) // DAY_MS * DAY_MS
    return {"source": "history", "history": str(history), "start_ts": end - span, "end_ts": end}


def _archive_end(days: int) -> tuple[str, int] | None:
    """(root, end) when the archive's journal stream has ``days`` unbroken days ending
    with its newest day file."""
    import datetime as dt

    from marketdata.archive.store import day_start_ms, stream_dir
    from marketdata.management.commands.archive_events import default_root

    root = default_root()
    found = set()
    for path in stream_dir(root, "journal").glob("*/*.parquet"):
        try:
            found.add(dt.date.fromisoformat(path.stem))
        except ValueError:
            continue
    if not found:
        return None
    newest = max(found)
    if all(newest - dt.timedelta(days=k) in found for k in range(days)):
        return str(root), day_start_ms(newest) + DAY_MS
    return None


def _file_end(path: str) -> int:
    """The end of the newest bar of a kline file (its lines read through, not parsed)."""
    from marketdata.history.klines import klines_between, open_kline_path

    last = ""
    with open_kline_path(path) as lines:
        for line in lines:
            if line.strip():
                last = line
    bars = list(klines_between(["header\n", last], None, None, name=path))
    if not bars:
        raise ValueError(f"{path}: no bars")
    return bars[-1][0] + 60_000


def auto_tune(*, budget_s: float = BUDGET_S, now_ms: int | None = None) -> str:
    """One tuner cycle (the beat task's body): study, safety, stored recommendation."""
    from backtests.search import preset
    from backtests.study import StudyError, StudyRequest, run_study, study_create

    busy = WalkForwardStudy.objects.filter(kind="tune", status=StudyStatus.RUNNING).first()
    if busy is not None:
        return f"skipped: tuning study {busy.pk} is still running"
    period = tuning_period(now_ms if now_ms is not None else int(timezone.now().timestamp() * 1000))
    if isinstance(period, str):
        log.info("auto_tune_skipped", reason=period)
        return f"skipped: {period}"
    request = StudyRequest(
        **period,
        train_days=TRAIN_DAYS,
        test_days=TEST_DAYS,
        step_days=STEP_DAYS,
        space="tuner",
        sampler="random",
        trials=TRIALS,
        batch_size=BATCH,
        base="stored",
    )
    try:
        study = study_create(request, kind="tune", requested_by="auto-tuner")
        study = run_study(study.pk, budget_s=budget_s)
    except StudyError as exc:
        log.error("auto_tune_failed", error=str(exc))
        return f"failed: {exc}"
    base = request.base_params()
    current = {d.name: getattr(base, d.name) for d in preset("tuner", base).dimensions}
    rec = recommendation_store(study, current)
    return f"recommendation {rec.pk}: {'apply' if rec.should_apply else 'do not apply'}"


def recommendation_store(
    study: WalkForwardStudy, current: Mapping[str, Any]
) -> TuningRecommendation:
    result = study.result
    verdict = safety(current, result["final_params"], result["diagnosis"])
    return TuningRecommendation.objects.create(
        study=study,
        current=dict(current),
        proposed=result["final_params"],
        changes=verdict.changes,
        should_apply=verdict.should_apply,
        reasons=verdict.reasons,
        evidence={
            "recommendation": result["recommendation"],
            "diagnosis": result["diagnosis"],
            "edge_consistency": result["edge_consistency"],
            "windows": result["windows"],
            "stability": result["stability"],
            "data": result["data"],
            "trials_evaluated": result["trials_evaluated"],
            "budget_hit": result["budget_hit"],
            "work_seconds": result["work_seconds"],
        },
    )


def lower_priority(nice: int = NICE) -> int:
    """Raise this process's niceness to at least ``nice`` (never lowers it); returns it."""
    current = os.nice(0)
    if current < nice:
        current = os.nice(nice - current)
    return current


# --- the operator's apply -----------------------------------------------------------------


class ApplyRefused(ValueError):
    """The recommendation cannot be applied; the message says why (audited)."""


def recommendation_apply(
    *, rec: TuningRecommendation, lane: str, actor: Any
) -> TuningRecommendation:
    """Apply ``rec``'s clamped changes as ``lane``'s overrides (blank: global), through the
    controls service (its validation and one audit row per override), plus one
    ``tuning_apply`` audit row; refused (audited) when there is nothing to apply."""
    from trading.services import controls

    with transaction.atomic():
        locked = TuningRecommendation.objects.select_for_update().get(pk=rec.pk)
        before = {"recommendation": rec.pk, "status": locked.status, "lane": lane}
        refusal = None
        if not locked.changes:
            refusal = f"recommendation {rec.pk} has no changes to apply"
        elif lane in locked.applied_to:
            refusal = f"recommendation {rec.pk} is already applied to lane {lane or 'global'}"
        if refusal is not None:
            controls._audit(
                actor=actor, action="tuning_apply", before=before, after={}, applied=False,
                message=refusal,
            )  # fmt: skip
    if refusal is not None:
        raise ApplyRefused(refusal)
    note = f"auto-tuner recommendation {rec.pk}"
    try:
        controls.lane_overrides_apply(
            lane=lane, values=dict(locked.changes), actor=actor, note=note
        )
    except controls.OverrideInvalid as exc:
        with transaction.atomic():
            controls._audit(
                actor=actor, action="tuning_apply", before=before, after={}, applied=False,
                message=str(exc),
            )  # fmt: skip
        raise ApplyRefused(str(exc)) from exc
    with transaction.atomic():
        locked = TuningRecommendation.objects.select_for_update().get(pk=rec.pk)
        locked.applied_to = [*locked.applied_to, lane]
        locked.status = RecommendationStatus.APPLIED
        locked.applied_by = actor.label
        locked.applied_at = timezone.now()
        locked.save(update_fields=["applied_to", "status", "applied_by", "applied_at"])
        controls._audit(
            actor=actor,
            action="tuning_apply",
            before=before,
            after={"lane": lane, "values": locked.changes, "should_apply": locked.should_apply},
            message=note + ("" if locked.should_apply else " (applied against its safety rules)"),
        )
    return locked
