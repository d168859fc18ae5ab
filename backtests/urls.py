from __future__ import annotations

from django.urls import path

from backtests import views

urlpatterns = [
    path("panel", views.backtest_panel, name="backtest-panel"),
    path("runs/<int:pk>/report", views.run_report, name="backtest-report"),
    path("runs/<int:pk>/report/", views.run_report, name="backtest-report-slash"),
    path("tuning-panel", views.tuning_panel, name="tuning-panel"),
    path("walk-forward/<int:pk>/report", views.walk_forward_report, name="walk-forward-report"),
]
