"""``run_backtest`` on a REAL Celery worker process (this Redis database, the test database):
a queued pass runs to done, a cancel stops it, and a worker killed mid-run (SIGKILL) leaves
its runs "running" only until the stale sweep marks them failed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from backtests import jobs
from backtests.models import BacktestRun, RunStatus
from backtests.request import BacktestRequest, RequestError
from backtests.tasks import sweep_stale_backtests
from backtests.tests.helpers import SEED, START, kline_file
from kbtc_site.celery_workers import celery_workers, database_url
from trading.models import ControlAudit
from trading.services.controls import Actor

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]
HOUR_MS = 3_600_000


@pytest.fixture
def worker(transactional_db: None) -> Iterator[subprocess.Popen[bytes]]:
    # the worker writes where this test reads: the test database, committed rows
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict)}
    with celery_workers(1, env=env, timeout_s=60) as [process]:
        yield process


@pytest.fixture
def operator(transactional_db: None) -> Actor:
    user = get_user_model().objects.create_user("op", password="x" * 12, is_staff=True)
    return Actor.from_user(user, source="admin")


def request_for(klines: Path, hours: int) -> BacktestRequest:
    return BacktestRequest(
        start_ts=START, end_ts=START + hours * HOUR_MS, history=str(klines), seed=SEED
    )


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def run_of(batch: Any) -> BacktestRun:
    return BacktestRun.objects.get(batch=batch)


def test_a_queued_pass_runs_to_done_on_the_worker(worker, operator, tmp_path):
    batch = jobs.backtest_enqueue(request=request_for(kline_file(tmp_path), 2), actor=operator)
    run = run_of(batch)
    assert run.status in (RunStatus.QUEUED, RunStatus.RUNNING)
    assert run.requested_by == "op"
    audit = ControlAudit.objects.get(action="backtest_start")
    assert audit.applied
    assert audit.after["runs"] == [run.pk]
    wait_for(lambda: run_of(batch).status == RunStatus.DONE, 180, "the run to finish")
    run = run_of(batch)
    assert run.progress == 1.0
    assert run.events > 0
    assert run.metrics["trades"] == run.trades.count()
    assert run.data["books"].startswith("simulated books")
    assert run.heartbeat_at is not None


def test_a_cancel_stops_a_running_pass(worker, operator, tmp_path):
    klines = kline_file(tmp_path, hours_after=26)
    batch = jobs.backtest_enqueue(request=request_for(klines, 24), actor=operator)
    wait_for(lambda: run_of(batch).progress > 0, 180, "progress to be stored")
    assert run_of(batch).status == RunStatus.RUNNING
    assert jobs.backtest_cancel(run=run_of(batch), actor=operator)
    wait_for(lambda: run_of(batch).status == RunStatus.CANCELLED, 60, "the cancel")
    run = run_of(batch)
    assert 0 < run.progress < 1
    assert run.error == "cancelled by an operator"
    assert run.trades.count() == 0  # nothing half-stored
    # a second cancel has nothing to stop: refused, and audited as such
    assert not jobs.backtest_cancel(run=run, actor=operator)
    refused = ControlAudit.objects.filter(action="backtest_cancel").order_by("id").last()
    assert refused is not None
    assert not refused.applied
    assert "is cancelled: nothing to cancel" in refused.message


def test_a_worker_killed_mid_run_leaves_its_run_failed_after_the_sweep(
    worker, operator, tmp_path, settings
):
    settings.KBTC = {**settings.KBTC, "BACKTEST_STALE_S": 8}
    klines = kline_file(tmp_path, hours_after=26)
    batch = jobs.backtest_enqueue(request=request_for(klines, 24), actor=operator)
    wait_for(lambda: run_of(batch).progress > 0, 180, "progress to be stored")
    assert sweep_stale_backtests() == []  # alive: the heartbeat is fresh
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    assert run_of(batch).status == RunStatus.RUNNING  # the dead worker could not say so
    swept = wait_for(sweep_stale_backtests, 30, "the sweep to find the stale run")
    run = run_of(batch)
    assert swept == [run.pk]
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("worker lost: no sign of life since")
    assert run.finished_at is not None


def test_a_request_that_cannot_run_is_refused_and_audited(operator):
    bad = BacktestRequest(
        start_ts=START, end_ts=START + HOUR_MS, history="table", params="/no/such/file.json"
    )
    with pytest.raises(RequestError, match="cannot read parameter file"):
        jobs.backtest_enqueue(request=bad, actor=operator)
    assert not BacktestRun.objects.exists()
    audit = ControlAudit.objects.get(action="backtest_start")
    assert not audit.applied
    assert "cannot read parameter file" in audit.message
