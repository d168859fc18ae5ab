"""The hard-stop sweep: the counterfactual (pure) and ``manage.py stop_sweep`` over one pass."""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backtests.models import BacktestRun
from backtests.sweep import counterfactual
from backtests.tests.helpers import kline_file


@dataclass(frozen=True)
class T:
    ticker: str
    opened_ts: int
    ts: int
    pnl: int
    reason: str


def test_counterfactual_names_the_changed_exits_and_the_pnl_difference():
    base = [T("A", 0, 100, -20, "STOP_LOSS"), T("B", 200, 300, 50, "TAKE_PROFIT"),
            T("C", 400, 500, -10, "STOP_LOSS")]  # fmt: skip
    alt = [T("A", 0, 150, 30, "TAKE_PROFIT"), T("B", 200, 300, 50, "TAKE_PROFIT"),
           T("D", 420, 600, 5, "TIME_EXIT")]  # fmt: skip
    cf = counterfactual(base, alt)
    assert cf["matched"] == 2
    assert cf["changed_count"] == 1
    assert cf["changed"][0]["base_reason"] == "STOP_LOSS"
    assert cf["changed"][0]["alt_reason"] == "TAKE_PROFIT"
    assert cf["changed_pnl_difference"] == 50
    assert (cf["only_base"], cf["only_alt"]) == (1, 1)
    assert cf["net_pnl_difference"] == (30 + 50 + 5) - (-20 + 50 - 10)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_sweep_runs_every_stop_in_one_pass_and_writes_its_report(tmp_path):
    out = StringIO()
    report = tmp_path / "sweep.html"
    call_command(
        "stop_sweep", "--start", "2026-01-01T00:00:00Z", "--end", "2026-01-01T02:00:00Z",
        "--stops", "0.02,0.01,0.20", "--history", str(kline_file(tmp_path)), "--seed", "7",
        "--report", str(report), "--json", stdout=out,
    )  # fmt: skip
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["base"]["name"] == "base stop 0.02"
    assert [row["run"]["name"] for row in result["stops"]] == ["stop 0.01", "stop 0.2"]
    runs = BacktestRun.objects.all()
    assert runs.count() == 3
    assert len({r.batch for r in runs}) == 1  # one pass
    base_trades = result["base"]["trades"]
    assert base_trades > 0
    for row in result["stops"]:
        cf = row["counterfactual"]
        assert cf["matched"] + cf["only_base"] == base_trades
        assert cf["net_pnl_difference"] == round(
            (row["run"]["net_pnl"] - result["base"]["net_pnl"]) * 1_000_000
        )
    assert "Hard-stop sweep" in report.read_text()
    with pytest.raises(CommandError, match="no stop other than"):
        call_command("stop_sweep", "--start", "2026-01-01", "--end", "2026-01-01T01:00:00Z",
                     "--stops", "0.02", "--history", str(kline_file(tmp_path)))  # fmt: skip
