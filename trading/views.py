"""The dashboard page, its HTTP partials and its control buttons (thin: selectors and
services do the work; ``trading.dashboard`` renders the widgets)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.template.loader import render_to_string
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
    chart_range = chart_range if chart_range in clock.RANGE_DAYS else "24h"
    days = clock.RANGE_DAYS[chart_range]
    now = clock.trading_now()
    since = clock.days_start(days, now=now)
    equity = {
        **selectors.equity_series(lane=Lane.PAPER, since=since, now=now),
        "initial_bankroll": float(selectors.lane_initial_bankroll(lane=Lane.PAPER)),
    }
    candles = selectors.btc_candles(since=since, now=now)
    context: dict[str, Any] = {
        "snapshot": dashboard.snapshot_context(can_control=is_operator(request.user)),
        "ranges": [(name, (label, clock.RANGE_DAYS[name])) for name, label in RANGE_LABELS],
        "range": chart_range,
        "days": days,
        "lanes": Lane.values,
        "equity_json": _script_json(equity),
        "candles_json": _script_json(candles),
        "candle_interval": dashboard.interval_text(candles["interval_s"]),
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
    """Run one control as the logged-in operator; answer with its message (which stays until
    dismissed or replaced: it lives outside every widget the socket re-renders) and the
    re-rendered sidebar, swapped out of band."""
    if not is_operator(request.user):
        return HttpResponseForbidden("An authenticated operator is required.")
    actor = controls.Actor.from_user(request.user, source="dashboard")
    refused = False
    try:
        message = call(actor)
    except controls.ControlRefused as refusal:
        message, refused = f"Refused: {refusal}", True
    context = dashboard.sidebar_context(can_control=True)
    return HttpResponse(
        render_to_string(dashboard.CONTROL_MESSAGE, {"message": message, "refused": refused})
        + render_to_string(dashboard.SIDEBAR, {**context, "oob": True})
    )


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
    # The button asks the browser to confirm before it posts ``confirm=true``.
    confirm = request.POST.get("confirm", "").lower() in ("1", "true", "on", "yes")

    def switch(actor: controls.Actor) -> str:
        controls.trading_mode_set(mode=mode, confirm=confirm, actor=actor)
        return f"Trading mode: {mode}."

    return _control(request, switch)


@require_POST
def control_close_all(request: HttpRequest) -> HttpResponse:
    def close_all(actor: controls.Actor) -> str:
        controls.close_all_exchange_positions(actor=actor)
        return "Close-all requested: paused; every exchange position is sold at the 1 ¢ floor."

    return _control(request, close_all)


@require_POST
def control_emergency_stop(request: HttpRequest) -> HttpResponse:
    def stop(actor: controls.Actor) -> str:
        controls.emergency_stop(actor=actor)
        return "Emergency stop requested: paused; the trader flattens every lane."

    return _control(request, stop)


@require_POST
def control_paper_breaker(request: HttpRequest) -> HttpResponse:
    halts = request.POST.get("halts", "").lower() in ("1", "true", "on", "yes")

    def enforce(actor: controls.Actor) -> str:
        controls.paper_breaker_halts_set(halts=halts, actor=actor)
        if halts:
            return "Paper breaker enforced: a paper trip now halts paper entries."
        return "Paper breaker not enforced: paper trips are shown, paper entries go on."

    return _control(request, enforce)
