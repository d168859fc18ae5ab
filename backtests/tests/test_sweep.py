"""manage.py stop_sweep: stop values as research lanes of one pass, the counterfactual
against the baseline, its JSON and HTML report, and bad input named before any work."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest
from django.core.management import CommandError, call_command

from backtests.models import BacktestRun
from backtests.sweep import counterfactual
from backtests.tests.helpers import SEED, kline_file
from marketdata.model.events import ClockTick, Event, SpotTrade, event_to_dict
from marketdata.models import RecordedEvent, RecordingSession
from marketdata.recorder.rows import ms_to_utc
from trading.engine.records import PositionClosed
from trading.tests.engine.factories import T0, snapshot, status, ticker_at

pytestmark = pytest.mark.django_db

CONTRACTS = 40  # what the default sizing buys with $1,000 at 50 ¢ (4000 hundredths)
DIP_S, PROFIT_S = 125, 135


def constructed_stream() -> list[Event]:
    """One contract, a bid-heavy book (OBI 0.75): both lanes buy YES at 50 ¢ three seconds
    in. At 125 s (past the 120 s minimum hold) the bid falls to 49 ¢ for two seconds: the
    mark (49.5 ¢) is 1 % under the premium, so a 0.01 stop sells at the 49 ¢ bid and the 0.02
    baseline holds. At 135 s the bid is 51.5 ¢ (mark +3.1 %): the baseline's target (0.02 ×
    1.5 = 3 %) sells there. Then a balanced book (OBI 0.5): no lane enters again."""
    ticker = ticker_at(T0)
    heavy = ((4800, 150_000),), ((5000, 50_000),)
    books = {
        5: (((4990, 150_000),), ((5000, 50_000),)),  # tight: mark −0.1 %
        DIP_S: (((4900, 150_000),), ((5000, 50_000),)),  # mark 49.5 ¢: −1 %
        DIP_S + 2: (((4990, 150_000),), ((5000, 50_000),)),
        PROFIT_S: (((5150, 150_000),), ((4840, 50_000),)),  # bid 51.5 ¢, ask 51.6 ¢
        PROFIT_S + 2: (((5000, 100_000),), ((4900, 100_000),)),  # balanced
    }
    events: list[Event] = [status(T0, T0), SpotTrade(ts=T0, price=90000.0, size=0.1)]
    events.append(snapshot(T0, ticker, *heavy))
    book = heavy
    for second in range(1, 400):
        now = T0 + second * 1000
        events += [ClockTick(ts=now), SpotTrade(ts=now, price=90000.0, size=0.1)]
        if second in books or second % 10 == 0:
            book = books.get(second, book)
            events.append(snapshot(now, ticker, *book))
    return events


def record(events: list[Event]) -> None:
    session = RecordingSession.objects.create(started_at=ms_to_utc(T0))
    RecordedEvent.objects.bulk_create(
        RecordedEvent(
            session=session, seq=seq, ts=ms_to_utc(e.ts), kind=e.kind, fields=event_to_dict(e)
        )
        for seq, e in enumerate(events, start=1)
    )


def sweep(*args: str) -> tuple[dict, str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("stop_sweep", *args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue().strip().splitlines()[-1]), out.getvalue(), err.getvalue()


def test_a_tighter_stop_exits_the_known_trade_earlier_with_the_known_pnl_difference(tmp_path):
    record(constructed_stream())
    report = tmp_path / "sweep.html"
    result, text, _ = sweep(
        "--start", "2026-01-01T00:00", "--end", "2026-01-01T00:06:40", "--source", "journal",
        "--params", "default", "--stops", "0.01", "--latency-ms", "0", "--report", str(report),
    )  # fmt: skip
    # the data it ran on, in every output
    assert result["data"]["books"] == "recorded"
    assert "books recorded" in text.splitlines()[0]
    base, (tight,) = result["baseline"], result["stops"]
    assert (base["stop"], tight["stop"]) == (0.02, 0.01)
    assert base["exit_reasons"] == {"TAKE_PROFIT": 1}
    assert tight["exit_reasons"] == {"STOP_LOSS": 1}
    assert (tight["changed_exits"], tight["matched"]) == (1, 1)
    assert (tight["only_variant"], tight["only_baseline"]) == (0, 0)
    (change,) = tight["changes"]
    assert change["opened_ts"] == T0 + 3000
    assert change["baseline"]["reason"] == "TAKE_PROFIT"
    assert change["baseline"]["exit_ts"] == T0 + PROFIT_S * 1000
    assert change["stop"]["reason"] == "STOP_LOSS"
    assert change["stop"]["exit_ts"] == T0 + DIP_S * 1000
    # both sold 40 contracts at their bid, with equal fees (0.70 $ a side at 49 ¢ and
    # 51.5 ¢): the stop's exit is worth 40 × (0.49 − 0.515) = −1.00 $
    assert base["fees"] == tight["fees"] == 1.40
    assert change["pnl_diff"] == pytest.approx(CONTRACTS * (0.49 - 0.515)) == -1.0
    assert tight["pnl_diff"] == tight["changed_pnl_diff"] == -1.0
    assert (base["net_pnl"], tight["net_pnl"]) == (-0.8, -1.8)
    assert (base["win_rate"], tight["win_rate"]) == (0.0, 0.0)
    # the runs are stored as one batch, the stop the only difference
    runs = BacktestRun.objects.filter(pk__in=[base["run_id"], tight["run_id"]])
    assert len({r.batch for r in runs}) == 1
    assert {r.name: r.params["stop_loss_frac"] for r in runs} == {
        "baseline": 0.02,
        "stop 0.01": 0.01,
    }
    html = report.read_text()
    assert "<script" not in html.lower()
    assert "Recorded books." in html
    assert "Exits changed by stop 0.01 (1)" in html
    assert "-$1.00" in html
    assert "STOP_LOSS" in html
    assert "TAKE_PROFIT" in html
    for element in ("data", "baseline", "summary", "net-chart", "diff-chart", "changes"):
        assert f'id="{element}"' in html, element


def test_a_history_sweep_says_its_books_are_simulated_and_its_parts_add_up(tmp_path):
    klines = kline_file(tmp_path, hours_after=3)
    result, text, _ = sweep(
        "--start", "2026-01-01T00:00", "--end", "2026-01-01T02:00", "--source", "history",
        "--history", str(klines), "--seed", str(SEED), "--params", "default",
        "--stops", "0.005,0.05",
    )  # fmt: skip
    assert "simulated books" in result["data"]["books"]
    assert "simulated books" in text.splitlines()[0]
    assert [row["stop"] for row in result["stops"]] == [0.005, 0.05]
    assert result["baseline"]["trades"] > 0
    for row in result["stops"]:
        stored = BacktestRun.objects.get(pk=row["run_id"])
        assert stored.metrics["net_pnl"] / 1e6 == pytest.approx(row["net_pnl"])
        assert row["pnl_diff"] == pytest.approx(row["net_pnl"] - result["baseline"]["net_pnl"])
        parts = (
            row["changed_pnl_diff"]
            + row["unchanged_pnl_diff"]
            + row["only_variant_pnl"]
            - row["only_baseline_pnl"]
        )
        assert parts == pytest.approx(row["pnl_diff"])
        assert row["changed_exits"] == len(row["changes"])
    # a looser stop changes an exit of this path (on these simulated books nearly every
    # exit comes at the 120 s minimum hold, past both the 0.5 % and the 2 % stop)
    assert sum(row["changed_exits"] for row in result["stops"]) > 0


def trade(opened: int, closed: int, pnl: int, reason: str = "STOP_LOSS") -> PositionClosed:
    return PositionClosed(
        ts=closed, lane="x", position_uid=f"p{opened}", ticker="K", direction="LONG",
        opened_ts=opened, count=100, entry_yes_price=5000, exit_yes_price=4900, cost=500_000,
        proceeds=0, fees=0, pnl=pnl, pnl_frac=0.0, reason=reason, fill_source="paper",
        mfe=None, mae=None, min_health_score=None, driver="OBI", conviction="NORMAL",
        entry_obi=None, entry_roc=None, regime="MEDIUM", quarantine="", params_hash="",
        exit_client_order_id="",
    )  # fmt: skip


def test_the_counterfactual_matches_by_entry_and_splits_the_difference():
    baseline = [
        trade(1_000, 9_000, 300, "TAKE_PROFIT"),  # exits earlier on the stop: changed
        trade(10_000, 19_000, -200),  # same exit, other size: unchanged, −50 knock-on
        trade(20_000, 29_000, 100, "TIME_EXIT"),  # the variant was still in a trade
    ]
    variant = [
        replace(baseline[0], ts=5_000, pnl=-100, reason="STOP_LOSS"),
        replace(baseline[1], pnl=-250),
        trade(25_000, 26_000, 40, "TAKE_PROFIT"),  # only here
    ]
    c = counterfactual(baseline, variant)
    assert [(x.opened_ts, x.baseline_reason, x.reason, x.pnl_diff) for x in c["changed"]] == [
        (1_000, "TAKE_PROFIT", "STOP_LOSS", -400)
    ]
    assert (c["matched"], c["changed_exits"], c["changed_pnl_diff"]) == (2, 1, -400)
    assert c["unchanged_pnl_diff"] == -50
    assert (c["only_baseline"], c["only_baseline_pnl"]) == (1, 100)
    assert (c["only_variant"], c["only_variant_pnl"]) == (1, 40)
    assert c["pnl_diff"] == (-100 - 250 + 40) - (300 - 200 + 100) == -400 - 50 + 40 - 100
    # an exit at the same time for another reason is a change too
    other_reason = counterfactual(baseline[:1], [replace(baseline[0], reason="EXPIRY_GUARD")])
    assert other_reason["changed_exits"] == 1
    assert counterfactual(baseline, baseline)["changed_exits"] == 0


@pytest.mark.parametrize(
    ("stops", "message"),
    [
        ("0.01,1.5", r"--stops 1.5: stop_loss_frac: must be between 0.0 and 1.0, got 1.5"),
        ("-0.01", r"--stops -0.01: stop_loss_frac: must be between 0.0 and 1.0, got -0.01"),
        ("0.01,abc", r"--stops: not a number: 'abc'"),
        ("0.01,,0.02", r"--stops: an empty value"),
        ("0.01,0.01", r"--stops: a value is repeated"),
        ("nan", r"--stops: not a finite number: 'nan'"),
    ],
)
def test_bad_stops_are_named_before_any_work(tmp_path, stops, message):
    klines = kline_file(tmp_path, hours_after=3)
    with pytest.raises(CommandError, match=message):
        call_command(
            "stop_sweep", "--start", "2026-01-01T00:00", "--end", "2026-01-01T02:00",
            "--history", str(klines), "--stops", stops, stdout=io.StringIO(),
        )  # fmt: skip
    assert not BacktestRun.objects.exists()


def test_the_baseline_is_one_parameter_set(tmp_path):
    sets = tmp_path / "sets.toml"
    sets.write_text("[a]\nstop_loss_frac = 0.01\n\n[b]\nstop_loss_frac = 0.08\n")
    with pytest.raises(CommandError, match=r"the baseline is one parameter set, the file has 2"):
        call_command(
            "stop_sweep", "--start", "2026-01-01T00:00", "--end", "2026-01-01T02:00",
            "--history", str(kline_file(tmp_path)), "--params", str(sets), "--stops", "0.01",
        )  # fmt: skip
    with pytest.raises(CommandError, match=r"--end must be after --start"):
        call_command(
            "stop_sweep", "--start", "2026-01-01T02:00", "--end", "2026-01-01T00:00",
            "--stops", "0.01",
        )  # fmt: skip
