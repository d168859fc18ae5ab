"""manage.py backtest: the three sources agree, results are stored, bad input is named."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from backtests.models import BacktestRun, BacktestTrade, RunStatus
from backtests.tests.helpers import SEED, START, kline_file, write_klines
from marketdata.archive.store import write_events
from marketdata.model.events import event_to_dict
from marketdata.models import RecordedEvent, RecordingSession
from marketdata.recorder.rows import ms_to_utc
from marketdata.sim.prices import load_history
from marketdata.sim.stream import generate_events

pytestmark = pytest.mark.django_db

PERIOD = ("--start", "2026-01-01T00:00", "--end", "2026-01-01T02:00")
KEYS = {
    "run_id", "trades", "net_pnl", "fees", "win_rate", "sharpe", "max_drawdown", "exit_reasons",
    "hold_seconds", "trade_list_sha256", "events", "seconds", "data",
}  # fmt: skip


def backtest(*args):
    out = io.StringIO()
    call_command("backtest", *PERIOD, *args, "--json", stdout=out)
    lines = out.getvalue().strip().splitlines()
    return json.loads(lines[-1]), lines


@pytest.fixture
def klines(tmp_path):
    return kline_file(tmp_path, hours_after=4)


def test_history_run_reports_the_listed_keys_and_stores_the_run(klines):
    result, lines = backtest("--source", "history", "--history", str(klines), "--seed", str(SEED))
    assert set(result) >= KEYS
    assert result["data"]["books"].startswith("simulated books")
    assert result["data"]["settlement"] == "simulated 60 s average"
    assert "simulated books" in lines[0]
    assert set(result["hold_seconds"]) == {"p10", "p50", "p90"}
    run = BacktestRun.objects.get(pk=result["run_id"])
    assert run.status == RunStatus.DONE
    assert (run.progress, run.events) == (1.0, result["events"])
    assert run.data_sha256 == result["data"]["sha256"]
    assert run.trade_list_sha256 == result["trade_list_sha256"]
    assert run.params_hash == result["params_hash"]
    assert BacktestTrade.objects.filter(run=run).count() == result["trades"] > 0
    assert len(run.equity) == result["trades"]
    assert run.metrics["sharpe"] == result["sharpe"]
    assert run.attribution["trades"] == result["trades"]
    health = run.attribution["signal_health"]  # the run's signal health (attribution)
    assert health["trades"] == result["trades"]
    assert health["win_rate"] == pytest.approx(result["win_rate"])
    assert health["ic"]["obi"]["n"] + health["ic"]["roc"]["n"] > 0  # entry signals recorded
    assert " src:" in run.code_version
    assert sum(result["exit_reasons"].values()) == result["trades"]


def test_archive_and_journal_replays_of_the_same_stream_trade_identically(klines, tmp_path):
    history, _ = backtest("--source", "history", "--history", str(klines), "--seed", str(SEED))
    prices = load_history(str(klines))
    events = [e for e in generate_events(SEED, START, 120, prices) if e.ts < START + 7_200_000]
    write_events(tmp_path / "archive", "sim", events)
    archived, _ = backtest(
        "--source", "archive", "--archive-dir", str(tmp_path / "archive"), "--stream", "sim",
        "--history", str(klines),
    )  # fmt: skip
    session = RecordingSession.objects.create(started_at=ms_to_utc(START))
    RecordedEvent.objects.bulk_create(
        RecordedEvent(
            session=session, seq=seq, ts=ms_to_utc(e.ts), kind=e.kind, fields=event_to_dict(e)
        )
        for seq, e in enumerate(events, start=1)
    )
    # the journal's warm-up comes from the candles table: empty here, so none — compare
    # it with an archive run that also has none
    journal, _ = backtest("--source", "journal")
    no_warmup, _ = backtest(
        "--source", "archive", "--archive-dir", str(tmp_path / "archive"), "--stream", "sim",
        "--history", "table",  # not KBTC_HISTORY: the (empty) candles table only
    )  # fmt: skip
    assert history["trade_list_sha256"] == archived["trade_list_sha256"]
    assert history["trades"] > 0
    assert archived["events"] == history["events"] == len(events)
    assert journal["trade_list_sha256"] == no_warmup["trade_list_sha256"]
    assert journal["events"] == len(events)


def test_several_parameter_sets_from_a_toml_file_run_in_one_pass(klines, tmp_path):
    sets = tmp_path / "sets.toml"
    sets.write_text("[tight]\nstop_loss_frac = 0.01\n\n[wide]\nstop_loss_frac = 0.08\n")
    result, _ = backtest("--history", str(klines), "--params", str(sets))
    assert [run["name"] for run in result["runs"]] == ["tight", "wide"]
    runs = BacktestRun.objects.filter(pk__in=[r["run_id"] for r in result["runs"]])
    assert len({run.batch for run in runs}) == 1
    assert {run.params["stop_loss_frac"] for run in runs} == {0.01, 0.08}


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (
            '{"stop_loss_frac": 2.5}',
            ".json",
            r"stop_loss_frac: must be between 0.0 and 1.0, got 2.5",
        ),
        (
            '{"wide": {"stop_lost_frac": 0.1}}',
            ".json",
            r"set 'wide': stop_lost_frac: unknown parameter",
        ),
        ("stop_loss_frac = ", ".toml", r"not valid toml"),
        ("[]", ".json", r"expected a table of parameters or of named sets"),
    ],
)
def test_a_bad_parameter_file_is_refused_naming_the_parameter_and_bounds(
    klines, tmp_path, content, suffix, message
):
    path = tmp_path / f"params{suffix}"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        backtest("--history", str(klines), "--params", str(path))
    assert not BacktestRun.objects.exists()


def test_an_empty_period_and_a_gap_are_named_with_their_times(klines, tmp_path):
    with pytest.raises(CommandError, match=r"the journal has no events from 2026-01-01T00:00"):
        backtest("--source", "journal")
    with pytest.raises(CommandError, match=r"has no files from 2026-01-01 to 2026-01-01"):
        backtest("--source", "archive", "--archive-dir", str(tmp_path))
    with pytest.raises(CommandError, match=r"covers .* not the period 2026-01-01T00:00:00.000Z"):
        call_command(
            "backtest", "--start", "2026-01-01", "--end", "2026-01-02", "--history", str(klines)
        )
    bars = load_history(str(klines)).bars
    holed = [b for b in bars if not START - 3_600_000 <= b.ts < START - 3_000_000]
    gap_file = write_klines(tmp_path / "holed.csv", holed)
    with pytest.raises(CommandError, match=r"data gap: no 1-minute bar before 2025-12-31T23:10"):
        backtest("--history", str(gap_file))
    with pytest.raises(CommandError, match=r"no such history file"):
        backtest("--history", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match=r"--end must be after --start"):
        call_command("backtest", "--start", "2026-01-02", "--end", "2026-01-01")


def test_a_hole_in_the_journal_fails_the_run_and_names_the_hole(klines):
    prices = load_history(str(klines))
    events = [
        e
        for e in generate_events(SEED, START, 120, prices)
        if e.ts < START + 7_200_000 and not START + 600_000 <= e.ts < START + 900_000
    ]
    session = RecordingSession.objects.create(started_at=ms_to_utc(START))
    RecordedEvent.objects.bulk_create(
        RecordedEvent(
            session=session, seq=seq, ts=ms_to_utc(e.ts), kind=e.kind, fields=event_to_dict(e)
        )
        for seq, e in enumerate(events, start=1)
    )
    with pytest.raises(
        CommandError,
        match=r"data gap: no events from 2026-01-01T00:09:59\.\d+Z to 2026-01-01T00:15:00",
    ):
        backtest("--source", "journal")
    run = BacktestRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert "no events from 2026-01-01T00:09:59" in run.error


def test_the_candles_table_serves_as_history_like_the_file(klines):
    from marketdata.history.klines import Kline
    from marketdata.history.store import klines_store

    bars = load_history(str(klines)).bars
    klines_store(
        Kline(
            ms_to_utc(b.ts).isoformat(), repr(b.open), repr(b.high), repr(b.low), repr(b.close),
            repr(b.volume),
        )
        for b in bars
    )  # fmt: skip
    from_file, _ = backtest("--history", str(klines), "--seed", str(SEED))
    err = io.StringIO()
    out = io.StringIO()
    call_command(
        "backtest", *PERIOD, "--history", "table", "--seed", str(SEED), "--json",
        stdout=out, stderr=err,
    )  # fmt: skip
    from_table = json.loads(out.getvalue().strip().splitlines()[-1])
    assert from_table["data"]["prices"] == "candles table (1-minute bars)"
    assert from_table["trade_list_sha256"] == from_file["trade_list_sha256"]
    assert from_table["trades"] > 0
    assert err.getvalue() == ""  # no terminal: no progress bar


def test_settled_markets_need_the_simulators_support_or_are_labelled_real(klines, tmp_path):
    settled = tmp_path / "settled.csv"
    settled.write_text(
        "ticker,open_time,close_time,floor_strike,expiration_value,result\n"
        "KXBTC15M-26JAN010015-15,2026-01-01T05:00:00+00:00,2026-01-01T05:15:00+00:00,"
        "65000.00,65010.00,yes\n"
    )
    try:
        import marketdata.settled  # noqa: F401
    except ImportError:
        with pytest.raises(CommandError, match="needs the simulator's settled-markets support"):
            backtest("--history", str(klines), "--settled", str(settled))
        return
    result, _ = backtest("--history", str(klines), "--settled", str(settled))
    assert result["data"]["settlement"].startswith(f"real where {settled} covers")
