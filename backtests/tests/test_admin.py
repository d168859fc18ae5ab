"""The admin's backtest start form and cancel action: audited, bad input named."""

from __future__ import annotations

import pytest

from backtests.models import BacktestRun, RunStatus
from trading.models import ControlAudit

pytestmark = pytest.mark.django_db

START_URL = "/admin/backtests/backtestrun/start/"


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(
        django_user_model.objects.create_user(
            "op", password="x" * 12, is_staff=True, is_superuser=True
        )
    )
    return client


def form(**changes):
    return {
        "start": "2026-01-01 00:00", "end": "2026-01-01 02:00", "source": "history",
        "history": "table", "seed": "7", "params": "default", "lane": "paper",
        "bankroll": "1000", **changes,
    }  # fmt: skip


def test_the_start_form_queues_a_pass_and_audits_it(staff, django_capture_on_commit_callbacks):
    assert staff.get(START_URL).status_code == 200
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = staff.post(START_URL, form())
    assert response.status_code == 302
    # the log line and the task, sent to the broker once the runs are committed
    assert len(sent) == 2
    run = BacktestRun.objects.get()
    assert (run.status, run.requested_by, run.source) == (RunStatus.QUEUED, "op", "history")
    assert run.data["requested"]["seed"] == 7
    assert run.bankroll == 1000
    audit = ControlAudit.objects.get(action="backtest_start")
    assert audit.applied
    assert audit.source == "admin"
    assert audit.after["runs"] == [run.pk]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end": "2025-12-31 00:00"}, "end must be after start"),
        ({"params": "/no/such.json"}, "cannot read parameter file"),
        ({"bankroll": "-5"}, "greater than or equal to 0.01"),
        ({"start": "yesterday"}, "Enter a valid date/time"),
    ],
)
def test_a_bad_start_is_shown_and_nothing_is_queued(staff, changes, message):
    response = staff.post(START_URL, form(**changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not BacktestRun.objects.exists()


def test_cancel_of_a_queued_pass_is_immediate_and_audited(staff):
    staff.post(START_URL, form())
    run = BacktestRun.objects.get()
    response = staff.post(
        "/admin/backtests/backtestrun/",
        {"action": "cancel_passes", "_selected_action": [run.pk]},
    )
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.cancel_requested
    assert ControlAudit.objects.get(action="backtest_cancel").applied


def test_non_staff_cannot_start(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("reader", password="x" * 12))
    assert client.post(START_URL, form()).status_code == 302  # to the admin login
    assert not BacktestRun.objects.exists()
