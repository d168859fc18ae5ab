"""The HTML report of a stored run: written by ``backtest --report`` and
``backtest_report``, served at /backtests/runs/<id>/report, self-contained and script-free."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from backtests.metrics import signal_accuracy
from backtests.models import BacktestRun, BacktestTrade, RunStatus
from backtests.report import equity_chart, hold_histogram, value_bars
from backtests.tests.helpers import SEED, kline_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_run(tmp_path):
    """A two-hour run on seed 7's synthetic path (simulated books), its report on disk."""
    klines = kline_file(tmp_path, hours_after=3)
    report = tmp_path / "report.html"
    out = io.StringIO()
    call_command(
        "backtest", "--start", "2026-01-01T00:00", "--end", "2026-01-01T02:00",
        "--source", "history", "--history", str(klines), "--seed", str(SEED),
        "--json", "--report", str(report), stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    return BacktestRun.objects.get(pk=result["run_id"]), report.read_text(), result


def test_the_written_report_has_every_section_and_no_script(stored_run):
    run, html, result = stored_run
    assert result["trades"] > 0
    assert "<script" not in html.lower()  # opens under the CSP and from disk alike
    assert "http://" not in html
    assert "https://" not in html
    for element in ("red-flags", "kpis", "equity-chart", "pnl-chart", "exit-chart",
                    "regime-chart", "hold-chart", "trades", "params", "data"):  # fmt: skip
        assert f'id="{element}"' in html, element
    # fewer than 50 trades: the report says it is too thin to judge
    assert f"Red flag: {result['trades']} trades &lt; 50: too few to judge" in html
    assert "simulated books" in html
    assert "simulated 60 s average" in html
    assert run.data_sha256 in html
    assert run.params_hash in html
    # one bar per trade, one trade row per trade (under 200 here)
    pnl_chart = html.split('id="pnl-chart"')[1].split("</svg>")[0]
    assert pnl_chart.count("<rect") == result["trades"]
    trades_table = html.split('id="trades"')[1].split("</table>")[0]
    assert trades_table.count("<tr>") == result["trades"] + 1
    for reason, count in result["exit_reasons"].items():
        assert f"{reason}: {count} (" in html
    for name in run.params:
        assert f"<th>{name}</th>" in html


def test_the_app_serves_the_same_report(stored_run, client, django_user_model):
    run, html, _ = stored_run
    client.force_login(django_user_model.objects.create_user("reader", password="x" * 12))
    for url in (f"/backtests/runs/{run.pk}/report", f"/backtests/runs/{run.pk}/report/"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.content.decode() == html
        assert "script-src 'self'" in response["Content-Security-Policy"]
    assert client.get(f"/backtests/runs/{run.pk + 1000}/report").status_code == 404
    assert client.post(f"/backtests/runs/{run.pk}/report").status_code == 405


@override_settings(ANONYMOUS_READS=False)
def test_anonymous_readers_are_sent_to_the_login(stored_run, client):
    run, _, _ = stored_run
    response = client.get(f"/backtests/runs/{run.pk}/report")
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_backtest_report_writes_a_stored_run_and_names_bad_input(stored_run, tmp_path):
    run, html, _ = stored_run
    target = tmp_path / "again.html"
    call_command("backtest_report", str(run.pk), str(target), stdout=io.StringIO())
    assert target.read_text() == html
    with pytest.raises(CommandError, match="no backtest run 999999"):
        call_command("backtest_report", "999999", str(target))
    with pytest.raises(CommandError, match="cannot write the report"):
        call_command("backtest_report", str(run.pk), str(tmp_path / "missing" / "r.html"))
    assert target.read_text() == html  # the earlier file is untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_failed_run_reports_its_error_without_figures(stored_run, tmp_path):
    run, _, _ = stored_run
    failed = BacktestRun.objects.create(
        **{f.name: getattr(run, f.name) for f in run._meta.fields if f.name not in ("id", "batch")},
    )
    BacktestRun.objects.filter(pk=failed.pk).update(
        status=RunStatus.FAILED, error="DataGap: no events", metrics={}, attribution={}, equity=[]
    )
    failed.refresh_from_db()
    target = tmp_path / "failed.html"
    call_command("backtest_report", str(failed.pk), str(target), stdout=io.StringIO())
    html = target.read_text()
    assert "This run failed: DataGap: no events" in html
    assert 'id="kpis"' not in html
    assert "no trades" in html
    assert BacktestTrade.objects.filter(run=failed).count() == 0


def test_charts_stay_inside_their_box():
    curve = equity_chart([[2_000, 900_000_000], [3_000, 1_100_000_000]], 1_000_000_000, 1_000)
    numbers = [float(n) for n in re.findall(r"-?\d+\.\d+", curve["line"] + " " + curve["drawdown"])]
    assert numbers
    assert all(0 <= n <= 720 for n in numbers)
    assert curve["worst"] == "10.0%"
    assert curve["high"] == "$1,100.00"
    bars = value_bars([("a", 5.0, ""), ("b", -5.0, "")], signed=True)
    assert bars[0].y + bars[0].h == pytest.approx(bars[1].y)  # both start at the zero line
    assert bars[1].negative
    assert not bars[0].negative
    assert sum(1 for _ in hold_histogram([1.0, 1.0, 1.0])) == 12
    assert value_bars([], signed=False) == []
    assert hold_histogram([]) == []


def test_signal_accuracy_is_stored_per_trade_and_shown(stored_run):
    run, html, result = stored_run
    accuracy = run.metrics["signal_accuracy"]
    assert result["signal_accuracy"] == accuracy  # the --json line carries it too
    counted = list(BacktestTrade.objects.filter(run=run, quarantine=""))
    assert accuracy["trades"] == len(counted) == result["trades"]
    # the stored readings and settlements give the same figures again
    settled = {t.ticker: t.contract_result for t in counted if t.contract_result}
    assert signal_accuracy(counted, settled) == accuracy
    assert any(t.entry_obi is not None for t in counted)
    assert settled  # 15-minute contracts settle inside a two-hour period
    assert set(settled.values()) <= {"yes", "no"}
    for signal in ("OBI", "ROC"):
        on_settlement = accuracy[signal]["settlement"]
        assert sum(on_settlement[k] for k in ("correct", "incorrect", "neutral", "unsettled")) == (
            len(counted)
        )
    section = html.split('id="signal-accuracy"')[1].split("</section>")[0]
    chart = section.split('id="signal-accuracy-chart"')[1].split("</svg>")[0]
    assert chart.count("<rect") == 6  # correct / incorrect / neutral of OBI and ROC
    for signal in ("OBI", "ROC"):
        for verdict in ("correct", "incorrect", "neutral"):
            n = accuracy[signal]["settlement"][verdict]
            assert f"{signal} {verdict}: {n}</title>" in chart
        counts = accuracy[signal]["trade"]
        assert (
            f"<td>{signal}</td><td>trade result</td><td>{counts['correct']}</td>"
            f"<td>{counts['incorrect']}</td><td>{counts['neutral']}</td>"
        ) in section
