"""The operator's control room. Every control goes through ``trading.services.controls``
(audited)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from kbtc_core.input_bounds import BoundedJSONFormField
from trading import selectors
from trading.models import (
    BankrollSnapshot,
    BotState,
    ControlAudit,
    Decision,
    LiveTradeCheck,
    OpenPosition,
    ParamOverride,
    Trade,
    TraderHeartbeat,
    TradingControls,
)
from trading.services import controls

REFUSED_FLAG = "_kbtc_control_refused"


def _actor(request: HttpRequest) -> controls.Actor:
    return controls.Actor.from_user(request.user, source="admin")


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by the trader; the admin shows it and never edits it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TraderHeartbeat)
class TraderHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("process", "pid", "hostname", "started_at", "beat_at", "stopped_at")


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = (
        "closed_at", "lane", "ticker", "direction", "contracts", "entry_price", "exit_price",
        "pnl", "fees", "exit_reason", "conviction", "driver", "regime", "quarantined",
        "data_quality_flag",
    )  # fmt: skip
    list_filter = ("lane", "direction", "exit_reason", "quarantined", "regime", "conviction")
    search_fields = ("ticker", "position_uid", "entry_client_order_id", "exit_client_order_id")
    date_hierarchy = "closed_at"


class FlaggedFilter(admin.SimpleListFilter):
    title = "flagged"
    parameter_name = "flagged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Flagged"), ("no", "Not flagged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.exclude(flagged="")
        if self.value() == "no":
            return queryset.filter(flagged="")
        return queryset


@admin.register(LiveTradeCheck)
class LiveTradeCheckAdmin(ReadOnlyAdmin):
    """Each live round trip's wallet drift and anomaly check (§3.18), beside its trade."""

    list_display = ("at", "lane", "ticker", "reason", "pnl", "wallet_pnl", "drift", "flagged")
    list_filter = (FlaggedFilter, "lane", "reason")
    search_fields = ("ticker", "entry_client_order_id", "entry_order_id", "flagged")
    date_hierarchy = "at"


@admin.register(OpenPosition)
class OpenPositionAdmin(ReadOnlyAdmin):
    list_display = (
        "lane", "ticker", "direction", "contracts", "entry_price", "opened_at", "cost",
        "fees", "stop_price", "target_price", "position_uid",
    )  # fmt: skip
    list_filter = ("lane", "direction")


@admin.register(BankrollSnapshot)
class BankrollSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("ts", "lane", "bankroll", "peak", "drawdown", "daily_pnl", "trade_count")
    list_filter = ("lane",)
    date_hierarchy = "ts"


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = (
        "ts", "lane", "kind", "ticker", "direction", "conviction", "driver", "obi", "roc",
        "regime", "spread_state", "skip_reason",
    )  # fmt: skip
    list_filter = ("lane", "kind", "direction", "regime", "skip_reason")
    date_hierarchy = "ts"


@admin.register(ControlAudit)
class ControlAuditAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_label", "source", "action", "applied", "message")
    list_filter = ("action", "applied", "source")
    readonly_fields = (
        "at", "actor", "actor_label", "source", "action", "applied", "message", "before",
        "after",
    )  # fmt: skip


@admin.register(BotState)
class BotStateAdmin(ReadOnlyAdmin):
    list_display = (
        "lane", "bankroll", "peak", "daily_baseline", "weekly_baseline", "breaker_state",
        "trades_today", "drawdown_reset_seq", "updated_at",
    )  # fmt: skip
    actions = ("reset_drawdown",)

    @admin.action(description="Reset drawdown (peak and baselines = bankroll)")
    def reset_drawdown(self, request: HttpRequest, queryset: QuerySet[BotState]) -> None:
        for state in queryset:
            try:
                controls.reset_drawdown(lane=state.lane, actor=_actor(request))
                self.message_user(request, f"{state.lane}: drawdown reset")
            except controls.ControlRefused as refusal:
                self.message_user(request, f"{state.lane}: {refusal}", messages.ERROR)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ServiceWritesAdmin(admin.ModelAdmin):
    """Saves and deletes run through durable, audited services, which must own their
    transaction: skip the admin's own atomic wrapper around the change and delete views."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> Any:
        return self._delete_view(request, object_id, extra_context)  # type: ignore[attr-defined]


class ParamOverrideForm(forms.ModelForm):
    actor: controls.Actor | None = None  # set per request by the admin: refusals are audited
    # Bounded depth and size, no NaN/Infinity: a form error, never a 500 (issue #15).
    value = BoundedJSONFormField()

    class Meta:
        model = ParamOverride
        fields = ("name", "lane", "value", "note")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "lane" in self.fields:
            self.fields["lane"].help_text = (
                f"empty: every lane (global); or one of the trader's lanes"
                f" ({', '.join(controls.override_lanes())}). A lane parameter applies within a"
                " second; a market parameter is only global and applies at the next restart."
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # On the change page the name and lane are read-only (not in the form): the row's.
        name = cleaned.get("name") or (self.instance.name if self.instance.pk else None)
        lane = cleaned.get("lane", self.instance.lane if self.instance.pk else "") or ""
        if name and "value" in cleaned:
            try:
                if self.actor is None:
                    controls.override_validate(name=name, value=cleaned["value"], lane=lane)
                else:
                    controls.override_check(
                        name=name, value=cleaned["value"], lane=lane, actor=self.actor
                    )
            except controls.OverrideInvalid as invalid:
                raise forms.ValidationError(str(invalid)) from invalid
        return cleaned


@admin.register(ParamOverride)
class ParamOverrideAdmin(ServiceWritesAdmin):
    form = ParamOverrideForm
    list_display = ("name", "lane_label", "value", "applies", "set_by_label", "set_at", "note")
    list_filter = ("lane",)
    readonly_fields = ("set_by_label", "set_at")
    actions = ("clear_selected",)

    @admin.display(description="lane", ordering="lane")
    def lane_label(self, obj: ParamOverride) -> str:
        return obj.lane or "every lane (global)"

    @admin.display(description="applies")
    def applies(self, obj: ParamOverride) -> str:
        return selectors.override_applies(obj.name)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*self.readonly_fields, "name", "lane") if obj else self.readonly_fields

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Any]]:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"actor": _actor(request)})

    def save_model(self, request: HttpRequest, obj: ParamOverride, form: Any, change: bool) -> None:
        saved = controls.override_set(
            name=obj.name, value=obj.value, note=obj.note, lane=obj.lane, actor=_actor(request)
        )
        obj.pk = saved.pk
        where = f"lane {obj.lane}" if obj.lane else "every lane"
        applies = selectors.override_applies(obj.name)
        self.message_user(request, f"The trader applies {obj.name} for {where} {applies}.")

    def delete_model(self, request: HttpRequest, obj: ParamOverride) -> None:
        controls.override_clear(name=obj.name, lane=obj.lane, actor=_actor(request))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk delete would bypass the audit
        return actions

    @admin.action(description="Clear the selected overrides (audited)")
    def clear_selected(self, request: HttpRequest, queryset: QuerySet[ParamOverride]) -> None:
        for override in queryset:
            controls.override_clear(name=override.name, lane=override.lane, actor=_actor(request))
        self.message_user(
            request,
            "Overrides cleared; the trader applies lane parameters within a second, market"
            " parameters at its next restart.",
        )


class TradingControlsForm(forms.ModelForm):
    actor: controls.Actor | None = None  # set per request by the admin: refusals are audited
    reset_trade_count = forms.BooleanField(required=False, help_text="restart the live count")

    class Meta:
        model = TradingControls
        fields = ("trading_mode", "paused", "live_trade_limit")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # The service's bounds, asked before the model's own (the column's range differs
        # between SQLite and PostgreSQL), so a refused limit is the same, and audited, on both.
        if self.actor is not None and "live_trade_limit" in self.changed_data:
            try:
                controls.trade_limit_check(limit=cleaned.get("live_trade_limit"), actor=self.actor)
            except controls.ControlRefused as refusal:
                raise forms.ValidationError({"live_trade_limit": str(refusal)}) from refusal
        return cleaned


@admin.register(TradingControls)
class TradingControlsAdmin(ServiceWritesAdmin):
    """Edits become service calls: one audited control per changed field."""

    form = TradingControlsForm
    list_display = (
        "__str__", "trading_mode", "paused", "emergency_stop_seq", "emergency_stop_handled_seq",
        "live_trade_limit", "version", "updated_at",
    )  # fmt: skip
    readonly_fields = (
        "emergency_stop_seq", "emergency_stop_handled_seq", "emergency_stop_at",
        "live_trade_count_since", "version", "updated_at",
    )  # fmt: skip
    actions = (
        "pause", "resume", "emergency_stop", "switch_to_paper", "switch_to_live",
        "close_all_exchange_positions",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Any]]:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"actor": _actor(request)})

    def get_queryset(self, request: HttpRequest) -> QuerySet[TradingControls]:
        TradingControls.objects.get_or_create(pk=1)
        return super().get_queryset(request)

    def save_model(
        self, request: HttpRequest, obj: TradingControls, form: Any, change: bool
    ) -> None:
        """Each changed field is its own audited control; a refused one is reported alone
        (``response_change`` then drops the admin's "changed successfully")."""
        data = form.cleaned_data
        calls: list[tuple[str, Any]] = []
        if "trading_mode" in form.changed_data:
            calls.append(
                ("Trading mode", partial(controls.trading_mode_set, mode=data["trading_mode"]))
            )
        if "paused" in form.changed_data:
            calls.append(("Pause", partial(controls.trading_pause_set, paused=data["paused"])))
        if "live_trade_limit" in form.changed_data or data.get("reset_trade_count"):
            reset = bool(data.get("reset_trade_count"))
            limit = partial(controls.trade_limit_set, limit=data["live_trade_limit"], reset=reset)
            calls.append(("Live trade limit", limit))
        for label, call in calls:
            self._run(request, label, call)

    def response_change(self, request: HttpRequest, obj: TradingControls) -> HttpResponse:
        if getattr(request, REFUSED_FLAG, False):
            return HttpResponseRedirect(request.path)  # the refusal, without a success line
        return super().response_change(request, obj)

    def _run(self, request: HttpRequest, label: str, call: Any) -> None:
        try:
            call(actor=_actor(request))
            self.message_user(request, f"{label}: done (audited).")
        except controls.ControlRefused as refusal:
            setattr(request, REFUSED_FLAG, True)
            self.message_user(request, f"{label} refused: {refusal}", messages.ERROR)

    @admin.action(description="Pause new entries (every lane)")
    def pause(self, request: HttpRequest, queryset: QuerySet[TradingControls]) -> None:
        self._run(
            request, "Pause", lambda actor: controls.trading_pause_set(paused=True, actor=actor)
        )

    @admin.action(description="Resume entries")
    def resume(self, request: HttpRequest, queryset: QuerySet[TradingControls]) -> None:
        self._run(
            request, "Resume", lambda actor: controls.trading_pause_set(paused=False, actor=actor)
        )

    @admin.action(description="EMERGENCY STOP: pause and flatten every lane")
    def emergency_stop(self, request: HttpRequest, queryset: QuerySet[TradingControls]) -> None:
        self._run(request, "Emergency stop", controls.emergency_stop)

    @admin.action(description="Switch to paper")
    def switch_to_paper(self, request: HttpRequest, queryset: QuerySet[TradingControls]) -> None:
        self._run(
            request,
            "Switch to paper",
            lambda actor: controls.trading_mode_set(mode="paper", actor=actor),
        )

    @admin.action(description="Switch to live")
    def switch_to_live(self, request: HttpRequest, queryset: QuerySet[TradingControls]) -> None:
        self._run(
            request,
            "Switch to live",
            lambda actor: controls.trading_mode_set(mode="live", actor=actor),
        )

    @admin.action(description="Close all exchange positions")
    def close_all_exchange_positions(
        self, request: HttpRequest, queryset: QuerySet[TradingControls]
    ) -> None:
        self._run(request, "Close all", controls.close_all_exchange_positions)
