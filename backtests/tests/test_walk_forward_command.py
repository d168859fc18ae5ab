"""``manage.py walk_forward``: --json's last line, the stored study and its HTML report,
and refusals before any work."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backtests.models import StudyStatus, WalkForwardStudy
from backtests.tests.helpers import kline_file
from backtests.tests.test_study import TINY


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_command_prints_windows_and_recommendation_last_and_writes_its_report(tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps(TINY))
    out, err = StringIO(), StringIO()
    report = tmp_path / "wf.html"
    call_command(
        "walk_forward", "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-01T06:00:00Z",
        "--train-days", str(2 / 24), "--test-days", str(1 / 24), "--step-days", str(1 / 24),
        "--space", str(space), "--sampler", "random", "--trials", "2", "--min-trades", "1",
        "--history", str(kline_file(tmp_path)), "--sim-seed", "7", "--eager", "--json",
        "--no-progress", "--report", str(report), stdout=out, stderr=err,
    )  # fmt: skip
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert len(last["windows"]) == 4
    assert isinstance(last["recommendation"], str)
    assert last["trials"] == 2
    study = WalkForwardStudy.objects.get(pk=last["study"])
    assert study.status == StudyStatus.DONE
    assert "recommendation:" in err.getvalue()
    page = report.read_text()
    assert "Walk-forward" in page
    assert 'id="windows"' in page
    assert last["recommendation"].split(":")[0] in page


@pytest.mark.django_db
def test_refusals_name_what_is_wrong(tmp_path):
    with pytest.raises(CommandError, match="--start and --end are required"):
        call_command("walk_forward", "--no-progress")
    with pytest.raises(CommandError, match="fewer than one window"):
        call_command("walk_forward", "--start", "2026-01-01", "--end", "2026-01-10",
                     "--history", str(kline_file(tmp_path)), "--no-progress")  # fmt: skip
    with pytest.raises(CommandError, match="not a preset"):
        call_command("walk_forward", "--start", "2026-01-01", "--end", "2026-03-01",
                     "--space", str(tmp_path / "none.json"), "--no-progress")  # fmt: skip
    with pytest.raises(CommandError, match="no such study"):
        call_command("walk_forward", "--resume", "999999", "--no-progress")
    assert not WalkForwardStudy.objects.exists()
