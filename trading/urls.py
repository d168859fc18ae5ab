from __future__ import annotations

from django.urls import path

from trading import views

urlpatterns = [
    path("", views.dashboard_page, name="dashboard"),
    path("partials/trades/", views.partial_trades, name="partial-trades"),
    path("controls/pause/", views.control_pause, name="control-pause"),
    path("controls/trading-mode/", views.control_mode, name="control-mode"),
    path("controls/emergency-stop/", views.control_emergency_stop, name="control-emergency-stop"),
    path("controls/close-all/", views.control_close_all, name="control-close-all"),
    path("controls/paper-breaker/", views.control_paper_breaker, name="control-paper-breaker"),
]
