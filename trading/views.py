from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from trading.selectors import trader_heartbeat


def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "trading/dashboard.html", {"trader": trader_heartbeat()})
