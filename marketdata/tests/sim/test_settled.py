"""Real settlements: a window the settled file covers takes its real strike and result; any
other falls back to the 60-second-average rule and says so; bad files stop with the line."""

import logging
import lzma
from io import StringIO

import httpx
import pytest
from django.core.management import CommandError, call_command

from marketdata.model.events import MarketStatus
from marketdata.settled import (
    SOURCE_AVERAGE,
    SOURCE_FILE,
    SOURCE_FILE_STRIKE,
    SettledFileError,
    SettledMarket,
    SettledMarkets,
    load_settled,
)
from marketdata.sim.schedule import average_cents
from marketdata.sim.stream import generate_events, history_for
from marketdata.sim.testing import running_simulator

START = 1_735_689_600_000 + 7 * 60_000  # 2025-01-01T00:07Z, inside window 00:00-00:15
WINDOW = 900_000
COVERED_OPEN = 1_735_689_600_000 + WINDOW  # 00:15-00:30: covered by the file
HEADER = "ticker,event_ticker,series,open_time,close_time,settlement_ts,floor_strike,cap_strike,expiration_value,result,volume,open_interest,last_price_dollars\n"  # noqa: E501


def path_result(history, open_ts):
    from marketdata.sim.prices import PricePath

    path = PricePath(history, 3)
    strike = average_cents(path, open_ts // 1000)
    close = average_cents(path, (open_ts + WINDOW) // 1000)
    return strike, close, "yes" if close >= strike else "no"


@pytest.fixture(scope="module")
def history():
    return history_for(3, START, 60)


@pytest.fixture(scope="module")
def settled(history):
    strike, close, result = path_result(history, COVERED_OPEN)
    # A real market that settled the other way from the path, at another strike.
    real = SettledMarket(
        ticker="KXBTC15M-24DEC311930-30",
        open_ts=COVERED_OPEN,
        close_ts=COVERED_OPEN + WINDOW,
        strike_cents=strike + 1234,
        expiration_cents=close,
        result="no" if result == "yes" else "yes",
    )
    # One covered without a result: the real strike, the 60 s rule against it.
    partial = SettledMarket(
        ticker="KXBTC15M-24DEC311945-45",
        open_ts=COVERED_OPEN + WINDOW,
        close_ts=COVERED_OPEN + 2 * WINDOW,
        strike_cents=9_000_000,
        expiration_cents=None,
        result=None,
    )
    return SettledMarkets([real, partial])


def statuses(events):
    return {(e.ticker, e.status): e for e in events if isinstance(e, MarketStatus)}


def test_a_covered_market_uses_the_real_strike_and_result(history, settled):
    events = list(generate_events(3, START, 40, history, settled=settled))
    real = settled.get(COVERED_OPEN + WINDOW)
    assert real is not None
    seen = statuses(events)
    ticker = next(t for t, s in seen if s == "open" and seen[(t, s)].open_ts == COVERED_OPEN)
    assert seen[(ticker, "open")].strike == real.strike_cents / 100
    assert seen[(ticker, "determined")].result == real.result
    assert path_result(history, COVERED_OPEN)[2] != real.result  # the path said otherwise


def test_an_uncovered_market_falls_back_to_the_average_rule_and_says_so(history, settled):
    from marketdata.sim.core import SimCore

    core = SimCore(seed=3, start_ts=START, history=history, settled=settled)
    before = core.schedule.market(COVERED_OPEN - WINDOW)
    strike, close, result = path_result(history, COVERED_OPEN - WINDOW)
    assert (before.source, before.strike_cents, before.close_cents, before.result) == (
        SOURCE_AVERAGE,
        strike,
        close,
        result,
    )
    assert core.schedule.market(COVERED_OPEN).source == SOURCE_FILE
    partial = core.schedule.market(COVERED_OPEN + WINDOW)
    _, close, _ = path_result(history, COVERED_OPEN + WINDOW)
    assert partial.source == SOURCE_FILE_STRIKE
    assert partial.strike_cents == 9_000_000
    assert partial.result == ("yes" if close >= 9_000_000 else "no")


async def test_rest_and_the_log_say_which_source_settled_each_market(history, settled, caplog):
    caplog.set_level(logging.INFO, logger="marketdata.sim.server")
    async with running_simulator(seed=3, history=history, settled=settled) as sim:
        await sim.advance(40 * 60)
        async with httpx.AsyncClient(base_url=sim.kalshi_api_url) as client:
            body = (await client.get("/markets", params={"limit": 1000})).json()
    by_open = {m["open_time"]: m for m in body["markets"]}
    covered = by_open["2025-01-01T00:15:00Z"]
    assert covered["kbtc_settlement_source"] == SOURCE_FILE
    assert covered["result"] == settled.get(COVERED_OPEN + WINDOW).result
    assert by_open["2025-01-01T00:00:00Z"]["kbtc_settlement_source"] == SOURCE_AVERAGE
    logged = [r.getMessage() for r in caplog.records if "determined" in r.getMessage()]
    assert any(
        m.startswith(f"market {covered['ticker']} determined {covered['result']}")
        and f"settlement source {SOURCE_FILE}" in m
        for m in logged
    )
    assert any(f"settlement source {SOURCE_AVERAGE}" in m for m in logged)


def write(tmp_path, body, name="settled.csv.xz"):
    path = tmp_path / name
    with lzma.open(path, "wt") as handle:
        handle.write(body)
    return path


ROW = "KXBTC15M-26APR041230-30,KXBTC15M-26APR041230,KXBTC15M,2026-04-04T16:15:00+00:00,2026-04-04T16:30:00+00:00,2026-04-04T16:30:13.48666,{strike},,67454.99,{result},265608.39,89117.11,0.9990\n"  # noqa: E501


def test_the_file_loads_float_strikes_to_their_cent(tmp_path):
    settled = load_settled(
        write(tmp_path, HEADER + ROW.format(strike="67100.009999", result="yes"))
    )
    (market,) = list(settled)
    assert (market.strike_cents, market.expiration_cents, market.result) == (
        6_710_001,
        6_745_499,
        "yes",
    )
    assert market.volume == 26_560_839


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            HEADER + ROW.format(strike="67100.005", result="yes"),
            "line 2: not a positive whole-cent",
        ),
        (HEADER + ROW.format(strike="67100.01", result="maybe"), "line 2: result must be"),
        (HEADER.replace("floor_strike", "strike") + ROW, "missing column(s) floor_strike"),
        (HEADER, "no settled markets"),
        (HEADER + ROW.format(strike="1", result="yes") * 2, "two markets close at"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line(tmp_path, body, message):
    with pytest.raises(SettledFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settled(write(tmp_path, body))


def test_a_missing_or_corrupt_file_is_refused(tmp_path):
    with pytest.raises(SettledFileError, match="no such settled-markets file"):
        load_settled(tmp_path / "absent.csv")
    broken = tmp_path / "broken.csv.xz"
    broken.write_bytes(b"not xz at all")
    with pytest.raises(SettledFileError, match="unreadable"):
        load_settled(broken)


def test_the_command_refuses_a_bad_settled_file_before_serving(tmp_path, monkeypatch):
    monkeypatch.delenv("KBTC_HISTORY", raising=False)  # the synthetic path: no --start needed
    bad = write(tmp_path, HEADER + ROW.format(strike="x", result="yes"))
    with pytest.raises(CommandError, match=r"--settled: .* line 2"):
        call_command("simulate_exchange", "--settled", str(bad), stdout=StringIO())


def test_the_command_refuses_a_historical_tier_that_is_not_positive(monkeypatch):
    monkeypatch.delenv("KBTC_HISTORY", raising=False)
    with pytest.raises(CommandError, match="--historical-days must be positive"):
        call_command("simulate_exchange", "--historical-days", "0", stdout=StringIO())


def test_the_shared_files_cut_settlement_times_do_not_stop_the_load(tmp_path):
    """Its settlement_ts column is cut at 25 characters ("…13.4879+"); the simulator does
    not use it, so the CSV reader leaves it alone."""
    row = ROW.format(strike="67100.01", result="no").replace(
        "2026-04-04T16:30:13.48666", "2026-04-04T16:30:13.4879+"
    )
    (market,) = list(load_settled(write(tmp_path, HEADER + row)))
    assert (market.result, market.settled_ts) == ("no", None)
