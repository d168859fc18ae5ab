from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from backtests import jobs
from backtests.models import BacktestRun, TuningRecommendation, WalkForwardStudy
from backtests.request import LANES, SOURCES, BacktestRequest, RequestError
from marketdata.recorder.rows import utc_to_ms
from trading.admin import ReadOnlyAdmin
from trading.engine.engine import DEFAULT_BANKROLL
from trading.services.controls import Actor


class StartForm(forms.Form):
    """What ``manage.py backtest`` asks, for an operator; times are UTC."""

    start = forms.DateTimeField(help_text="UTC, inclusive (YYYY-MM-DD HH:MM)")
    end = forms.DateTimeField(help_text="UTC, exclusive")
    source = forms.ChoiceField(choices=[(s, s) for s in SOURCES], initial="history")
    history = forms.CharField(
        required=False, help_text="kline file on the worker, 'table', or empty for KBTC_HISTORY"
    )
    seed = forms.IntegerField(initial=1, help_text="simulated books' seed")
    params = forms.CharField(initial="default", help_text="'default', 'stored' or a file")
    lane = forms.ChoiceField(choices=[(s, s) for s in LANES], initial="paper")
    bankroll = forms.DecimalField(
        initial=DEFAULT_BANKROLL / 1_000_000, min_value=0.01, max_digits=14, decimal_places=2
    )

    def request(self) -> BacktestRequest:
        data = self.cleaned_data

        def ms(when: dt.datetime) -> int:
            return utc_to_ms(when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when)

        return BacktestRequest(
            start_ts=ms(data["start"]),
            end_ts=ms(data["end"]),
            source=data["source"],
            history=data["history"] or None,
            seed=data["seed"],
            params=data["params"],
            lane=data["lane"],
            bankroll=int(data["bankroll"] * 1_000_000),
        )


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_user(request.user, source="admin")


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    """Runs are written by the backtester; an operator starts and cancels passes here."""

    list_display = ("id", "name", "source", "period_start", "period_end", "status", "progress",
                    "events", "requested_by", "report", "trade_list_sha256")  # fmt: skip
    list_filter = ("status", "source")
    search_fields = ("name", "params_hash", "data_sha256", "trade_list_sha256")
    actions = ("cancel_passes",)
    change_list_template = "admin/backtests/backtestrun/change_list.html"

    @admin.display(description="report")
    def report(self, run: BacktestRun) -> str:
        return format_html('<a href="{}">report</a>', reverse("backtest-report", args=[run.pk]))

    @admin.action(description="Cancel the selected runs' passes")
    def cancel_passes(self, request: HttpRequest, queryset: QuerySet[BacktestRun]) -> None:
        for run in queryset:
            if jobs.backtest_cancel(run=run, actor=_actor(request)):
                self.message_user(request, f"run {run.pk}: cancel requested")
            else:
                self.message_user(request, f"run {run.pk} is {run.status}", messages.WARNING)

    def get_urls(self) -> list[URLPattern]:
        start = path(
            "start/",
            self.admin_site.admin_view(self.start_view),
            name="backtests_backtestrun_start",
        )
        return [start, *super().get_urls()]

    def start_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_staff:  # admin_view lets staff in only; said again for clarity
            return HttpResponse(status=403)
        form = StartForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                batch = jobs.backtest_enqueue(request=form.request(), actor=_actor(request))
            except RequestError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"backtest queued (batch {batch})")
                return HttpResponseRedirect(reverse("admin:backtests_backtestrun_changelist"))
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Start a backtest",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/backtests/start.html", context)


@admin.register(WalkForwardStudy)
class WalkForwardStudyAdmin(ReadOnlyAdmin):
    """Studies are written by ``manage.py walk_forward`` and the auto-tuner."""

    list_display = ("id", "kind", "status", "trials_done", "trials_total", "tasks_done",
                    "tasks_total", "created_at", "finished_at", "report")  # fmt: skip
    list_filter = ("kind", "status")

    @admin.display(description="report")
    def report(self, study: WalkForwardStudy) -> str:
        return format_html(
            '<a href="{}">report</a>', reverse("walk-forward-report", args=[study.pk])
        )


@admin.register(TuningRecommendation)
class TuningRecommendationAdmin(ReadOnlyAdmin):
    """The auto-tuner's recommendations; an operator applies one to a lane (audited)."""

    list_display = ("id", "created_at", "should_apply", "status", "changes", "applied_to",
                    "applied_by")  # fmt: skip
    list_filter = ("status", "should_apply")
    actions = ("apply_paper", "apply_global")

    def _apply(self, request: HttpRequest, queryset: QuerySet[TuningRecommendation],
               lane: str) -> None:  # fmt: skip
        from backtests.autotune import ApplyRefused, recommendation_apply

        for rec in queryset:
            try:
                recommendation_apply(rec=rec, lane=lane, actor=_actor(request))
            except ApplyRefused as refused:
                self.message_user(request, f"recommendation {rec.pk}: {refused}", messages.ERROR)
            else:
                self.message_user(
                    request, f"recommendation {rec.pk} applied to {lane or 'every lane'}"
                )

    @admin.action(description="Apply the selected recommendations to the paper lane")
    def apply_paper(self, request: HttpRequest, queryset: QuerySet[TuningRecommendation]) -> None:
        self._apply(request, queryset, "paper")

    @admin.action(description="Apply the selected recommendations to every lane (global)")
    def apply_global(self, request: HttpRequest, queryset: QuerySet[TuningRecommendation]) -> None:
        self._apply(request, queryset, "")
