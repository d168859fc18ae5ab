"""The dashboard's Backtest panel partial: the latest run's figures, red flags and report link,
and a running pass's progress, polled faster while one is active."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from backtests.models import BacktestRun, RunStatus
from backtests.tests.helpers import SEED, kline_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client, settings):
    settings.ANONYMOUS_READS = True
    return client


def panel(client) -> str:
    response = client.get("/backtests/panel")
    assert response.status_code == 200
    return response.content.decode()


def test_without_runs_the_panel_says_how_to_start_one(reader):
    html = panel(reader)
    assert "No backtest yet" in html
    assert "hx-trigger" not in html  # idle: no polling (the dashboard is pushed)


def test_the_panel_shows_the_latest_run_and_a_running_ones_progress(reader, tmp_path):
    out = io.StringIO()
    call_command(
        "backtest", "--start", "2026-01-01T00:00", "--end", "2026-01-01T02:00",
        "--history", str(kline_file(tmp_path, hours_after=3)), "--seed", str(SEED), "--json",
        stdout=out,
    )  # fmt: skip
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    html = panel(reader)
    assert f'href="/backtests/runs/{result["run_id"]}/report"' in html
    assert f"<td>{result['trades']}</td>" in html
    assert f"${result['net_pnl']:.2f}" in html
    for flag in result["red_flags"]:
        assert flag.replace("<", "&lt;") in html
    assert "hx-trigger" not in html  # idle: no polling (the dashboard is pushed)
    assert "<progress" not in html

    done = BacktestRun.objects.get(pk=result["run_id"])
    running = BacktestRun.objects.create(
        **{
            f.name: getattr(done, f.name)
            for f in done._meta.fields
            if f.name not in ("id", "batch")
        }
    )
    BacktestRun.objects.filter(pk=running.pk).update(
        status=RunStatus.RUNNING, progress=0.425, events=12345, metrics={}
    )
    html = panel(reader)
    assert 'hx-trigger="every 3s"' in html
    assert '<progress max="1" value="0.4250">' in html
    assert "42%" in html  # widthratio rounds 42.5 to the even 42
    assert "12345 events" in html
    assert f'href="/backtests/runs/{result["run_id"]}/report"' in html  # still the done one

    BacktestRun.objects.filter(pk=running.pk).update(status=RunStatus.FAILED, error="boom")
    html = panel(reader)
    assert "boom" in html
    assert "hx-trigger" not in html  # idle: no polling (the dashboard is pushed)


@override_settings(ANONYMOUS_READS=False)
def test_anonymous_readers_get_no_panel(client):
    assert client.get("/backtests/panel").status_code == 403


def test_the_dashboard_loads_the_panel(reader):
    html = reader.get("/").content.decode()
    assert 'id="backtest-panel" hx-get="/backtests/panel" hx-trigger="load"' in html
