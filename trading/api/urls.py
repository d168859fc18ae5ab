from __future__ import annotations

from django.urls import path

from trading.api import views

app_name = "api"

urlpatterns = [
    path("status/", views.StatusView.as_view(), name="status"),
    path("trades/", views.TradeListView.as_view(), name="trades"),
    path("positions/", views.PositionListView.as_view(), name="positions"),
    path("decisions/", views.DecisionListView.as_view(), name="decisions"),
    path("equity/", views.EquityView.as_view(), name="equity"),
    path("candles/", views.CandleView.as_view(), name="candles"),
    path("stats/", views.StatsView.as_view(), name="stats"),
    path("param-overrides/", views.OverrideView.as_view(), name="overrides"),
    path("param-overrides/<str:name>/", views.OverrideDetailView.as_view(), name="override"),
    path("controls/", views.ControlsView.as_view(), name="controls"),
    path("controls/trading-mode/", views.TradingModeView.as_view(), name="trading-mode"),
    path("controls/trading-pause/", views.TradingPauseView.as_view(), name="trading-pause"),
    path("controls/emergency-stop/", views.EmergencyStopView.as_view(), name="emergency-stop"),
    path(
        "controls/close-all-exchange-positions/",
        views.CloseAllExchangePositionsView.as_view(),
        name="close-all-exchange-positions",
    ),
    path("controls/reset-drawdown/", views.ResetDrawdownView.as_view(), name="reset-drawdown"),
    path("controls/trade-limit/", views.TradeLimitView.as_view(), name="trade-limit"),
]
