"""The report page of a stored run and the dashboard's Backtest panel (thin: ``report`` and
``selectors`` do the work)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from backtests import selectors
from backtests.models import (
    BacktestRun,
    RunStatus,
    StudyStatus,
    TuningRecommendation,
    WalkForwardStudy,
)
from backtests.report import render_report
from backtests.study import progress_of
from backtests.wf_report import render_wf_report

ENDED_BADLY = (RunStatus.FAILED, RunStatus.CANCELLED)


@require_GET
def run_report(request: HttpRequest, pk: int) -> HttpResponse:
    # the same read rule as the dashboard
    if not (settings.ANONYMOUS_READS or request.user.is_authenticated):
        return redirect_to_login(request.get_full_path())
    return HttpResponse(render_report(get_object_or_404(BacktestRun, pk=pk)))


# Polled by the dashboard's Backtest panel (htmx): quickly while a pass is queued or running,
# slowly otherwise; each answer carries its own next interval.
POLL_ACTIVE_S = 3


@require_GET
def backtest_panel(request: HttpRequest) -> HttpResponse:
    if not (settings.ANONYMOUS_READS or request.user.is_authenticated):
        return HttpResponse(status=403)
    active = selectors.runs_active()
    latest = selectors.run_latest()
    done = selectors.run_latest_done()
    context = {
        "active": active,
        "done": done,
        "summary": selectors.run_summary(done) if done else None,
        # a newer run that ended without figures (failed, cancelled) is said too
        "ended": latest if latest and latest.status in ENDED_BADLY else None,
        "poll_s": POLL_ACTIVE_S,  # only while a run is active: idle, the panel is quiet
    }
    return render(request, "backtests/panel.html", context)


@require_GET
def walk_forward_report(request: HttpRequest, pk: int) -> HttpResponse:
    if not (settings.ANONYMOUS_READS or request.user.is_authenticated):
        return redirect_to_login(request.get_full_path())
    return HttpResponse(render_wf_report(get_object_or_404(WalkForwardStudy, pk=pk)))


@require_GET
def tuning_panel(request: HttpRequest) -> HttpResponse:
    """The dashboard's Tuning panel: studies in progress (bar, best so far, ETA; polled
    while one runs) and the newest tuner recommendation with its evidence."""
    if not (settings.ANONYMOUS_READS or request.user.is_authenticated):
        return HttpResponse(status=403)
    active = [progress_of(s) for s in WalkForwardStudy.objects.filter(status=StudyStatus.RUNNING)]
    context = {
        "active": active,
        "latest": WalkForwardStudy.objects.filter(status=StudyStatus.DONE).first(),
        "failed": WalkForwardStudy.objects.first(),
        "recommendation": TuningRecommendation.objects.first(),
        "poll_s": POLL_ACTIVE_S,
    }
    return render(request, "backtests/tuning_panel.html", context)
