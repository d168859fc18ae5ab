"""``run_backtest``'s own logic, run in this process (``Task.apply``) on both profiles: a
queued pass ends done, data that cannot serve it fails its runs with the reason, and a pass
cancelled while queued never starts. The worker process itself: ``test_tasks``."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from backtests import jobs
from backtests.models import BacktestRun, RunStatus
from backtests.request import BacktestRequest
from backtests.tasks import run_backtest
from backtests.tests.helpers import SEED, START, kline_file
from trading.services.controls import Actor

pytestmark = pytest.mark.django_db
HOUR_MS = 3_600_000


@pytest.fixture
def operator() -> Actor:
    user = get_user_model().objects.create_user("op", password="x" * 12, is_staff=True)
    return Actor.from_user(user, source="admin")


def queue(request: BacktestRequest, operator: Actor, capture) -> tuple[str, list]:
    with capture(execute=False) as sent:
        batch = jobs.backtest_enqueue(request=request, actor=operator)
    return str(batch), sent


def test_a_queued_pass_ends_done(operator, tmp_path, django_capture_on_commit_callbacks):
    request = BacktestRequest(
        start_ts=START, end_ts=START + 2 * HOUR_MS, history=str(kline_file(tmp_path)), seed=SEED
    )
    batch, _ = queue(request, operator, django_capture_on_commit_callbacks)
    assert BacktestRun.objects.get(batch=batch).status == RunStatus.QUEUED
    result = run_backtest.apply(args=[request.to_dict(), batch]).get()
    run = BacktestRun.objects.get(batch=batch)
    assert result.startswith("done:")
    assert run.status == RunStatus.DONE
    assert run.progress == 1.0
    assert run.data["books"].startswith("simulated books")  # the queued label replaced
    assert run.trades.count() == run.metrics["trades"]


def test_data_that_cannot_serve_the_period_fails_the_runs_with_the_reason(
    operator, tmp_path, django_capture_on_commit_callbacks
):
    request = BacktestRequest(
        start_ts=START + 30 * 24 * HOUR_MS,  # after the file's end
        end_ts=START + 30 * 24 * HOUR_MS + HOUR_MS,
        history=str(kline_file(tmp_path)),
    )
    batch, _ = queue(request, operator, django_capture_on_commit_callbacks)
    result = run_backtest.apply(args=[request.to_dict(), batch]).get()
    run = BacktestRun.objects.get(batch=batch)
    assert result.startswith("failed:")
    assert run.status == RunStatus.FAILED
    assert run.error.endswith("klines.csv: empty price history")
    assert run.finished_at is not None


def test_a_pass_cancelled_while_queued_never_starts(
    operator, tmp_path, django_capture_on_commit_callbacks
):
    request = BacktestRequest(start_ts=START, end_ts=START + HOUR_MS, history="table")
    batch, _ = queue(request, operator, django_capture_on_commit_callbacks)
    assert jobs.backtest_cancel(run=BacktestRun.objects.get(batch=batch), actor=operator)
    result = run_backtest.apply(args=[request.to_dict(), batch]).get()
    run = BacktestRun.objects.get(batch=batch)
    assert result == "not queued (cancelled before it started)"
    assert run.status == RunStatus.CANCELLED
    assert run.error == "cancelled by an operator before it started"


def test_a_malformed_message_fails_the_runs_not_the_worker(
    operator, django_capture_on_commit_callbacks
):
    request = BacktestRequest(start_ts=START, end_ts=START + HOUR_MS, history="table")
    batch, _ = queue(request, operator, django_capture_on_commit_callbacks)
    result = run_backtest.apply(args=[{**request.to_dict(), "bogus": 1}, batch]).get()
    run = BacktestRun.objects.get(batch=batch)
    assert result == "failed: unknown request fields: bogus"
    assert run.status == RunStatus.FAILED
