"""The report page of a stored run (thin: ``backtests.report`` builds it)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from backtests.models import BacktestRun
from backtests.report import render_report


@require_GET
def run_report(request: HttpRequest, pk: int) -> HttpResponse:
    # the same read rule as the dashboard
    if not (settings.ANONYMOUS_READS or request.user.is_authenticated):
        return redirect_to_login(request.get_full_path())
    return HttpResponse(render_report(get_object_or_404(BacktestRun, pk=pk)))
