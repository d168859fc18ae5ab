"""The dashboard's ML gate panel: the active model and its figures, the lanes' gate mode,
what the running daemon's gate did (model loaded, judged, rejected, failed open) with its
recent p_win (the ``ml_gate`` rule of the latest decisions, kept by ``ModelWatch`` and
pushed with the ``health`` topic), and the shadow comparison that gating needs.

Rendered at every health push: the shadow comparison scores rows with the model, so it
is cached per active model for a minute (trades close minutes apart).
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from mlgate.models import ModelVersion, PromotionLog
from mlgate.promotion import GATING_MIN_PP, shadow_evidence
from trading.engine.params import DEFAULT_PARAMS
from trading.models import ParamOverride

PANEL = "mlgate/partials/ml_gate.html"
SHADOW_TTL_S = 60


def _shadow(active: ModelVersion | None) -> dict[str, Any] | None:
    if active is None:
        return None
    key = f"mlgate:shadow:{active.pk}:{active.created_at.timestamp()}"
    cached = cache.get(key)
    if cached is None:
        comparison, reason = shadow_evidence()
        cached = {
            "comparison": comparison.as_dict() if comparison is not None else None,
            "reason": reason,
        }
        cache.set(key, cached, SHADOW_TTL_S)
    return cached


def ml_panel_context(health: dict[str, Any] | None) -> dict[str, Any]:
    active = ModelVersion.objects.filter(active=True).first()
    override = ParamOverride.objects.filter(name="ml_gate_mode").first()
    daemon = (health or {}).get("ml_gate") or None
    watch = (health or {}).get("ml_model") or {}
    last = PromotionLog.objects.first()
    return {
        "active": (
            {
                "id": active.pk,
                "created": active.created_at.strftime("%Y-%m-%d %H:%M"),
                "source": active.source,
                "rows": active.rows,
                "threshold": active.threshold,
                "precision": active.metrics.get("oos_precision"),
                "recall": active.metrics.get("oos_recall"),
                "shuffled_precision": active.metrics.get("shuffled_precision"),
            }
            if active is not None
            else None
        ),
        "mode": override.value if override is not None else DEFAULT_PARAMS.ml_gate_mode,
        "daemon": daemon,
        "recent": list(reversed(watch.get("recent") or [])),
        "shadow": _shadow(active),
        "min_pp": GATING_MIN_PP,
        "promotion": (
            {
                "at": last.at.strftime("%Y-%m-%d %H:%M"),
                "promoted": last.promoted,
                "reason": last.reason,
            }
            if last is not None
            else None
        ),
    }
