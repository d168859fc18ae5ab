"""The dashboard page, its HTTP partials and its control buttons (thin: selectors and
services do the work; ``trading.dashboard`` renders the widgets)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from kbtc_core.permissions import is_operator
from trading import clock, dashboard, selectors
from trading.models import Lane
from trading.services import controls

RANGE_LABELS = (("24h", "24H"), ("1w", "1W"), ("1m", "1M"), ("all", "All"))


def _may_read(request: HttpRequest) -> bool:
    return bool(settings.ANONYMOUS_READS or request.user.is_authenticated)


@require_GET
def dashboard_page(request: HttpRequest) -> HttpResponse:
    if not _may_read(request):
        return redirect_to_login(request.get_full_path())
    chart_range = request.GET.get("range", "24h")
    since = clock.range_start(chart_range)
    context: dict[str, Any] = {
        "snapshot": dashboard.snapshot_context(can_control=is_operator(request.user)),
        "ranges": RANGE_LABELS,
        "range": chart_range,
        "equity_json": _script_json(selectors.equity_points(lane=Lane.PAPER, since=since)),
        "candles_json": _script_json(selectors.candles_with_ema(since=since)),
        **dashboard.trades_context(request.GET),
    }
    return render(request, "trading/dashboard.html", context)


def _script_json(value: Any) -> str:
    # Inside <script type="application/json">, "</" must not appear literally.
    return json.dumps(value).replace("</", "<\\/")


@require_GET
def partial_trades(request: HttpRequest) -> HttpResponse:
    if not _may_read(request):
        return HttpResponseForbidden("Log in to read the trades.")
    return render(request, dashboard.TRADES, dashboard.trades_context(request.GET))


def _control(request: HttpRequest, call: Any) -> HttpResponse:
    """Run one control as the logged-in operator and answer with the re-rendered sidebar."""
    if not is_operator(request.user):
        return HttpResponseForbidden("An authenticated operator is required.")
    actor = controls.Actor.from_user(request.user, source="dashboard")
    try:
        message = call(actor)
    except controls.ControlRefused as refusal:
        message = f"Refused: {refusal}"
    return HttpResponse(dashboard.render_sidebar(can_control=True, message=message))


@require_POST
def control_pause(request: HttpRequest) -> HttpResponse:
    paused = request.POST.get("paused", "true").lower() in ("1", "true", "on", "yes")

    def pause(actor: controls.Actor) -> str:
        controls.trading_pause_set(paused=paused, actor=actor)
        return "Paused: no new entries on any lane." if paused else "Resumed."

    return _control(request, pause)


@require_POST
def control_mode(request: HttpRequest) -> HttpResponse:
    mode = request.POST.get("mode", "")

    def switch(actor: controls.Actor) -> str:
        controls.trading_mode_set(mode=mode, actor=actor)
        return f"Trading mode: {mode}."

    return _control(request, switch)


@require_POST
def control_emergency_stop(request: HttpRequest) -> HttpResponse:
    def stop(actor: controls.Actor) -> str:
        controls.emergency_stop(actor=actor)
        return "Emergency stop requested: paused; the trader flattens every lane."

    return _control(request, stop)
