"""The API's paths: the original's (domain.md §9.2) plus this system's own reads.

Every path answers with and without a trailing slash, POST included, with no redirect (a
redirected POST loses its body in most clients). The schema lists the form without the
slash (``kbtc_site.schema.drop_slash_twins``).
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path

from attribution.api import AttributionView
from trading.api import views

app_name = "api"


def both(route: str, view: Any, name: str) -> list[URLPattern]:
    return [path(route, view, name=name), path(f"{route}/", view, name=f"{name}-slash")]


urlpatterns = [
    *both("health", views.HealthView.as_view(), "health"),
    *both("status", views.StatusView.as_view(), "status"),
    *both("diagnostics", views.DiagnosticsView.as_view(), "diagnostics"),
    *both("deploy-check", views.DeployCheckView.as_view(), "deploy-check"),
    *both("trades", views.TradeListView.as_view(), "trades"),
    *both("errored-trades", views.ErroredTradeListView.as_view(), "errored-trades"),
    *both("positions", views.PositionListView.as_view(), "positions"),
    *both("decisions", views.DecisionListView.as_view(), "decisions"),
    *both("equity", views.EquityView.as_view(), "equity"),
    *both("btc-price", views.BtcPriceView.as_view(), "btc-price"),
    *both("stats", views.StatsView.as_view(), "stats"),
    *both("stats/daily", views.StatsDailyView.as_view(), "stats-daily"),
    *both("stats/by-regime", views.StatsByRegimeView.as_view(), "stats-by-regime"),
    *both("stats/signal-accuracy", views.SignalAccuracyView.as_view(), "stats-signal-accuracy"),
    *both("attribution", AttributionView.as_view(), "attribution"),
    *both("param-overrides", views.OverrideView.as_view(), "overrides"),
    *both("param-overrides/<str:name>", views.OverrideDetailView.as_view(), "override"),
    *both("controls", views.ControlsView.as_view(), "controls"),
    *both("trading-mode", views.TradingModeView.as_view(), "trading-mode"),
    *both("trading-pause", views.TradingPauseView.as_view(), "trading-pause"),
    *both("emergency-stop", views.EmergencyStopView.as_view(), "emergency-stop"),
    *both(
        "close-all-exchange-positions",
        views.CloseAllExchangePositionsView.as_view(),
        "close-all-exchange-positions",
    ),
    *both("reset-drawdown", views.ResetDrawdownView.as_view(), "reset-drawdown"),
    *both("trade-limit", views.TradeLimitView.as_view(), "trade-limit"),
]
