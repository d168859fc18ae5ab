"""Promotion of a retrained gate model and the shadow → gating evidence (domain.md §7.3).

Weekly (Celery beat, ``mlgate.retrain_gate``) the gate is retrained on the labelled rows
and the candidate is weighed against the active model (the incumbent). It becomes the
active model only if every rule of §7.3 holds:

- at least ``PROMOTION_MIN_ROWS`` labelled rows;
- time-ordered out-of-sample precision at or above the floor (0.58);
- not worse than the incumbent's precision by more than ``MAX_PRECISION_DROP``;
- trained on the incumbent's source, it has at least ``SAME_SOURCE_ROWS_SHARE`` of the
  incumbent's rows (a candidate trained on less data of the same kind is refused);
- the incumbent is still the active model when the swap commits.

The swap is one transaction (the incumbent keeps its row, retired; the candidate becomes
active) with its ``PromotionLog`` row; a refusal writes its log row too, with the reason.
The daemon picks the new model up by polling the active version (``mlgate.sink.ModelWatch``).

Shadow → gating: a lane's ``ml_gate_mode`` may become ``gate`` only when the shadow
comparison shows the gate's pick beating the baseline: over the trades entered since the
active model was created (none of them in its training rows), the win rate of those the
gate would have let through is at least ``GATING_MIN_PP`` points above all of them. The
comparison scores the stored entry features with the model; the shadow rule computed the
same p_win from the same vector (the features are the decision's, parity-tested).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import structlog
from django.db import transaction

from mlgate import services
from mlgate.models import ModelVersion, PromotionLog, TradeFeatures
from mlgate.predictor import GatePredictor
from mlgate.selectors import feature_rows, training_rows
from mlgate.training import MIN_PRECISION, TrainingError, TrainResult, train

log = structlog.get_logger(__name__)

PROMOTION_MIN_ROWS = 200
MAX_PRECISION_DROP = 0.10
SAME_SOURCE_ROWS_SHARE = 0.95
PROMOTION_LOG_KEEP = 50
GATING_MIN_PP = 5.0  # percentage points of win rate, gate's pick over the baseline
GATING_MIN_TRADES = 100  # shadowed trades the comparison needs
GATING_MIN_PASSED = 30  # of which the gate let through at least this many


def promotion_refusal(
    result: TrainResult, *, source: str, incumbent: ModelVersion | None
) -> str | None:
    """Why ``result`` may not replace ``incumbent`` (None: it may). Pure."""
    precision = float(result.metrics["oos_precision"])
    if result.rows < PROMOTION_MIN_ROWS:
        return f"{result.rows} rows: promotion needs {PROMOTION_MIN_ROWS}"
    if precision < MIN_PRECISION:
        return f"OOS precision {precision:.3f} is below the floor {MIN_PRECISION}"
    if incumbent is None:
        return None
    held = float(incumbent.metrics.get("oos_precision") or 0.0)
    if precision < held - MAX_PRECISION_DROP:
        return (
            f"OOS precision {precision:.3f} is more than {MAX_PRECISION_DROP} below the "
            f"incumbent's {held:.3f} (model {incumbent.pk})"
        )
    if source == incumbent.source and result.rows < SAME_SOURCE_ROWS_SHARE * incumbent.rows:
        return (
            f"{result.rows} {source} rows, fewer than {SAME_SOURCE_ROWS_SHARE:.0%} of the "
            f"incumbent's {incumbent.rows} (model {incumbent.pk})"
        )
    return None


def _log(
    *,
    actor: str,
    source: str,
    candidate: ModelVersion | None,
    incumbent: ModelVersion | None,
    reason: str | None,
    details: dict[str, Any],
) -> PromotionLog:
    entry = PromotionLog.objects.create(
        actor=actor[:64],
        source=source,
        candidate=candidate,
        incumbent=incumbent,
        promoted=reason is None,
        reason=(reason or "promoted")[:300],
        details=details,
    )
    keep = PromotionLog.objects.order_by("-at", "-id").values_list("pk", flat=True)
    PromotionLog.objects.exclude(pk__in=list(keep[:PROMOTION_LOG_KEEP])).delete()
    (log.info if reason is None else log.warning)(
        "ml_gate_promotion",
        promoted=reason is None,
        reason=reason,
        candidate=candidate.pk if candidate else None,
        incumbent=incumbent.pk if incumbent else None,
    )
    return entry


def promote(
    result: TrainResult,
    *,
    source: str,
    lanes: Sequence[str] = (),
    actor: str = "beat",
) -> PromotionLog:
    """Store ``result`` as a model version and make it active if §7.3's gate allows, in one
    transaction with the log row. The incumbent is read under a row lock, so a promotion
    that raced this one is seen, and the one-active-model constraint holds throughout."""
    with transaction.atomic():
        incumbent = ModelVersion.objects.select_for_update().filter(active=True).first()
        reason = promotion_refusal(result, source=source, incumbent=incumbent)
        candidate = services.save_model(result, source=source, lanes=lanes, activate=False)
        if reason is None:
            if incumbent is not None:
                incumbent.active = False
                incumbent.save(update_fields=["active"])
            candidate.active = True
            candidate.save(update_fields=["active"])
        details = {
            "rows": result.rows,
            "oos_precision": result.metrics["oos_precision"],
            "oos_recall": result.metrics["oos_recall"],
            "incumbent_precision": incumbent.metrics.get("oos_precision") if incumbent else None,
            "incumbent_rows": incumbent.rows if incumbent else None,
        }
        return _log(
            actor=actor,
            source=source,
            candidate=candidate,
            incumbent=incumbent,
            reason=reason,
            details=details,
        )


def retrain(
    *, source: str = "paper", lanes: Sequence[str] = (), actor: str = "beat"
) -> PromotionLog:
    """The weekly job: train on every labelled row of ``source`` and try to promote. Too few
    rows or rows that cannot train are logged refusals (no model version is stored)."""
    rows = training_rows(feature_rows(source=source, lanes=lanes))
    incumbent = ModelVersion.objects.filter(active=True).first()
    reason = None
    if len(rows) < PROMOTION_MIN_ROWS:
        reason = f"{len(rows)} labelled {source} rows: promotion needs {PROMOTION_MIN_ROWS}"
    else:
        try:
            result = train(rows)
        except TrainingError as exc:
            reason = f"training failed: {exc}"
    if reason is not None:
        with transaction.atomic():
            return _log(
                actor=actor,
                source=source,
                candidate=None,
                incumbent=incumbent,
                reason=reason,
                details={"rows": len(rows)},
            )
    return promote(result, source=source, lanes=lanes, actor=actor)


# --- shadow → gating -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShadowComparison:
    model: str
    threshold: float
    trades: int
    wins: int
    passed: int  # trades the gate would have let through
    passed_wins: int
    baseline_pnl: int  # micro-dollars, every trade
    passed_pnl: int  # micro-dollars, the trades the gate let through

    @property
    def baseline_win_rate(self) -> float:
        return self.wins / self.trades if self.trades else 0.0

    @property
    def gate_win_rate(self) -> float:
        return self.passed_wins / self.passed if self.passed else 0.0

    @property
    def lift_pp(self) -> float:
        return 100.0 * (self.gate_win_rate - self.baseline_win_rate)

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "baseline_win_rate": round(self.baseline_win_rate, 4),
            "gate_win_rate": round(self.gate_win_rate, 4),
            "lift_pp": round(self.lift_pp, 2),
        }


def compare(rows: Iterable[TradeFeatures], predictor: GatePredictor) -> ShadowComparison:
    """The gate's pick against every trade: labelled rows scored by ``predictor``."""
    trades = wins = passed = passed_wins = base_pnl = passed_pnl = 0
    for row in rows:
        if row.label is None:
            continue
        won = row.label == 1
        pnl = int(row.pnl or 0)
        trades += 1
        wins += won
        base_pnl += pnl
        if predictor.p_win(row.features) >= predictor.threshold:
            passed += 1
            passed_wins += won
            passed_pnl += pnl
    return ShadowComparison(
        predictor.version,
        predictor.threshold,
        trades,
        wins,
        passed,
        passed_wins,
        base_pnl,
        passed_pnl,
    )


def shadow_rows(version: ModelVersion, *, lanes: Sequence[str] = ("paper",)) -> list[TradeFeatures]:
    """The daemon's labelled trades entered since ``version`` was created and after its
    training period: none of them trained it."""
    since = int(version.created_at.timestamp() * 1000)
    if version.period_end_ms is not None:
        since = max(since, version.period_end_ms + 1)
    rows = TradeFeatures.objects.filter(
        run__isnull=True, lane__in=list(lanes), entry_ts_ms__gte=since, label__isnull=False
    )
    return list(rows.order_by("entry_ts_ms", "id"))


def shadow_evidence(lanes: Sequence[str] = ("paper",)) -> tuple[ShadowComparison | None, str]:
    """The active model's shadow comparison and "" when it allows gating, else why not."""
    version = ModelVersion.objects.filter(active=True).first()
    if version is None:
        return None, "no active model"
    predictor, error = services.load_predictor(version)
    if predictor is None:
        return None, f"the active model cannot be used: {error}"
    result = compare(shadow_rows(version, lanes=lanes), predictor)
    if result.trades < GATING_MIN_TRADES:
        return result, (
            f"{result.trades} shadowed trades since model {version.pk}: "
            f"the comparison needs {GATING_MIN_TRADES}"
        )
    if result.passed < GATING_MIN_PASSED:
        return result, (
            f"the gate let {result.passed} of {result.trades} shadowed trades through: "
            f"the comparison needs {GATING_MIN_PASSED}"
        )
    if result.lift_pp < GATING_MIN_PP:
        return result, (
            f"gate win rate {result.gate_win_rate:.1%} vs baseline "
            f"{result.baseline_win_rate:.1%} over {result.trades} shadowed trades: "
            f"{result.lift_pp:+.1f} pp, gating needs +{GATING_MIN_PP:.0f} pp"
        )
    return result, ""


def gating_refusal() -> str | None:
    """Why ``ml_gate_mode = gate`` may not be set now (None: the evidence is there). Called
    by the parameter override service, so every path to gating (API, admin, the ML
    action) is refused the same way, and audited there."""
    _, reason = shadow_evidence()
    return reason or None
