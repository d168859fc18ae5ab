"""/api/backtest/latest, /runs, /runs/{id}/report: shapes, both slash forms, the schema."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from backtests.models import BacktestRun
from backtests.tests.helpers import SEED, kline_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(settings):
    settings.ANONYMOUS_READS = True
    return APIClient()


@pytest.fixture
def run(tmp_path):
    out = io.StringIO()
    call_command(
        "backtest", "--start", "2026-01-01T00:00", "--end", "2026-01-01T02:00",
        "--history", str(kline_file(tmp_path, hours_after=3)), "--seed", str(SEED), "--json",
        stdout=out,
    )  # fmt: skip
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    return BacktestRun.objects.get(pk=result["run_id"]), result


def test_no_run_yet_is_a_404_that_says_so(api):
    response = api.get("/api/backtest/latest")
    assert response.status_code == 404
    assert api.get("/api/backtest/runs").json()["results"] == []


def test_latest_and_runs_show_the_run_with_its_summary(api, run):
    stored, result = run
    for path in ("/api/backtest/latest", "/api/backtest/latest/"):
        latest = api.get(path).json()
        assert latest["id"] == stored.pk
        assert latest["status"] == "done"
        assert latest["summary"]["trades"] == result["trades"]
        assert latest["summary"]["net_pnl"] == pytest.approx(result["net_pnl"])
        assert latest["summary"]["red_flags"] == result["red_flags"]
        assert latest["report_url"] == f"/backtests/runs/{stored.pk}/report"
        assert latest["data"]["books"].startswith("simulated books")
        assert latest["bankroll"] == 1000.0
    runs = api.get("/api/backtest/runs/").json()
    assert [r["id"] for r in runs["results"]] == [stored.pk]
    assert api.get("/api/backtest/runs?status=failed").json()["results"] == []
    assert api.get("/api/backtest/runs?status=bogus").status_code == 400


def test_the_report_gives_metrics_attribution_equity_and_trades(api, run):
    stored, result = run
    for path in (
        f"/api/backtest/runs/{stored.pk}/report",
        f"/api/backtest/runs/{stored.pk}/report/",
    ):
        report = api.get(path).json()
        assert report["run"]["id"] == stored.pk
        assert report["metrics"]["sharpe"] == result["sharpe"]
        assert report["attribution"]["trades"] == result["trades"]
        assert len(report["equity"]) == result["trades"]
        assert report["trade_count"] == len(report["trades"]) == result["trades"]
        assert set(report["trades"][0]) >= {
            "ticker",
            "pnl",
            "exit_reason",
            "opened_at",
            "driver",
            "entry_obi",
            "entry_roc",
            "contract_result",
        }
        assert report["params"] == stored.params
    missing = api.get(f"/api/backtest/runs/{stored.pk + 999}/report")
    assert missing.status_code == 404


@override_settings(ANONYMOUS_READS=False)
def test_anonymous_reads_off_means_401():
    assert APIClient().get("/api/backtest/latest").status_code == 401


def test_the_schema_documents_the_three_paths(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "/api/backtest/latest" in paths
    assert "/api/backtest/runs" in paths
    assert "/api/backtest/runs/{id}/report" in paths
    assert "/api/backtest/latest/" not in paths  # the slash twin is left out like the others
