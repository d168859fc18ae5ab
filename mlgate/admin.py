from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from mlgate.models import ModelVersion, PromotionLog, ReadinessNotice, TradeFeatures
from mlgate.promotion import shadow_evidence
from trading.admin import ReadOnlyAdmin, _actor
from trading.services import controls


@admin.register(TradeFeatures)
class TradeFeaturesAdmin(ReadOnlyAdmin):
    """Rows are written by the daemon's sink and by backtests only."""

    list_display = ("id", "source", "lane", "run", "ticker", "entry_ts_ms", "label", "pnl",
                    "mfe", "mae", "exit_reason")  # fmt: skip
    list_filter = ("source", "lane", "label", "data_source")
    search_fields = ("position_uid", "ticker")


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    """Versions are written by ``train_gate`` and the weekly retrain only; the artifact is not
    shown. The action switches the lanes from shadow to gating: the parameter override
    service refuses it (audited) without the shadow comparison's evidence."""

    list_display = ("id", "created_at", "source", "rows", "threshold", "oos_precision",
                    "oos_recall", "shuffled_precision", "active")  # fmt: skip
    list_filter = ("source", "active")
    exclude = ("artifact",)
    actions = ("switch_to_gating",)

    @admin.display(description="OOS precision (time-ordered)")
    def oos_precision(self, obj: ModelVersion) -> Any:
        return obj.metrics.get("oos_precision")

    @admin.display(description="OOS recall")
    def oos_recall(self, obj: ModelVersion) -> Any:
        return obj.metrics.get("oos_recall")

    @admin.display(description="shuffled precision (leaks)")
    def shuffled_precision(self, obj: ModelVersion) -> Any:
        return obj.metrics.get("shuffled_precision")

    @admin.action(description="Switch the lanes from shadow to gating (needs the shadow evidence)")
    def switch_to_gating(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        comparison, _ = shadow_evidence()
        note = ""
        if comparison is not None:
            c = comparison.as_dict()
            note = (
                f"shadow: gate {c['gate_win_rate']:.1%} vs baseline {c['baseline_win_rate']:.1%}"
                f" over {c['trades']} trades (model {c['model']})"
            )
        try:
            controls.override_set(
                name="ml_gate_mode", value="gate", actor=_actor(request), note=note
            )
        except controls.ControlRefused as refusal:
            self.message_user(request, f"Gating refused: {refusal}", messages.ERROR)
            return
        self.message_user(request, f"Lanes switched to gating (audited). {note}")


@admin.register(PromotionLog)
class PromotionLogAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "source", "candidate", "incumbent", "promoted", "reason")
    list_filter = ("promoted", "source")


@admin.register(ReadinessNotice)
class ReadinessNoticeAdmin(ReadOnlyAdmin):
    list_display = ("mode", "sent_at", "rows", "win_rate")
