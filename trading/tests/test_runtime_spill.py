"""The spill file: what a stop during a database outage could not write, kept for the next
start (``trading.runtime.spill``): its format, an apply that never writes a row twice, and
a file that cannot be read stopping the start instead of being dropped."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import OperationalError
from structlog.testing import capture_logs

from kbtc_core.spillfiles import SpillError
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import LaneStatus
from trading.models import BankrollSnapshot, BotState, Decision, OpenPosition, Trade
from trading.runtime import spill
from trading.runtime.daemon import DaemonConfig
from trading.runtime.factory import build_daemon
from trading.runtime.session import new_session, paper_venues
from trading.runtime.state import save_state_write
from trading.runtime.writer import Write
from trading.services.trades import (
    bankroll_record,
    decision_record,
    position_close,
    position_open,
    position_update,
)

T0 = 1_767_225_600_000
BANKROLL = 1_000_000_000


def round_trip_writes() -> list[Write]:
    """What a stop during an outage typically holds: a round trip, its log rows, the state."""
    session = new_session(DEFAULT_PARAMS, bankroll=BANKROLL, venues=paper_venues(200))
    session.engine.lanes["paper"].breaker.bankroll = BANKROLL + 1_230_000
    statuses = {s.lane: s for s in session.start() if isinstance(s, LaneStatus)}
    return [
        Write(
            decision_record,
            {"lane": "paper", "ts_ms": T0, "kind": "entry", "ticker": "KX-1", "obi": 0.31},
            critical=True,
        ),
        Write(
            position_open,
            {
                "lane": "paper",
                "position_uid": "paper-pos-1",
                "ticker": "KX-1",
                "direction": "long",
                "contracts": 1000,
                "entry_price": 4200,
                "opened_at_ms": T0,
                "cost": 4_200_000,
                "fees": 180_000,
                "reasons": {"reason": "ENTRY", "rules": [["obi", 0.31]]},
            },
            critical=True,
        ),
        Write(position_update, {"position_uid": "paper-pos-1", "fees": 190_000}, critical=True),
        Write(
            position_close,
            {
                "position_uid": "paper-pos-1",
                "exit_price": 4800,
                "closed_at_ms": T0 + 180_000,
                "exit_proceeds": 4_800_000,
                "fees": 370_000,
                "pnl": 230_000,
                "exit_reason": "TAKE_PROFIT",
            },
            critical=True,
        ),
        Write(
            bankroll_record,
            {
                "lane": "paper",
                "ts_ms": T0 + 180_000,
                "bankroll": BANKROLL + 230_000,
                "peak": BANKROLL + 230_000,
                "daily_pnl": 230_000,
                "trade_count": 1,
            },
        ),
        save_state_write(session.snapshot(warmup_before_ts=T0), statuses, {"warmup_before_ts": T0}),
    ]


def test_each_write_is_one_json_line_named_by_its_write_with_its_arguments(tmp_path: Path):
    writes = round_trip_writes()
    lines, unspillable = spill.spill_lines(writes)
    path = spill.spill_save(lines, tmp_path)

    assert unspillable == []
    assert path == tmp_path / "persist-spill-000001.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [record["write"] for record in records] == [
        "decision_record",
        "position_open",
        "position_update",
        "position_close",
        "bankroll_record",
        "state_save",
    ]
    assert records[3] == {
        "format": 1,
        "db": spill.database_identity(),
        "write": "position_close",
        "critical": True,
        "kwargs": writes[3].kwargs,
    }
    assert records[4]["critical"] is False
    read = spill.spill_read(path)
    assert [w.kwargs for w in read[:5]] == [w.kwargs for w in writes[:5]]
    assert [w.line for w in read] == [1, 2, 3, 4, 5, 6]
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_a_second_spill_never_overwrites_an_earlier_one(tmp_path: Path):
    first = spill.spill_save(spill.spill_lines(round_trip_writes()[:1])[0], tmp_path)
    before = first.read_bytes()
    second = spill.spill_save(spill.spill_lines(round_trip_writes()[1:2])[0], tmp_path)

    assert second.name == "persist-spill-000002.jsonl"
    assert first.read_bytes() == before
    assert spill.spill_files(tmp_path) == [first, second]


def test_a_write_it_does_not_know_is_named_as_unspillable():
    def mystery(**kwargs: object) -> None:
        return None

    lines, unspillable = spill.spill_lines([Write(mystery, {}), Write(mystery, {"x": object()})])
    assert lines == []
    assert unspillable == ["mystery", "mystery"]


def test_the_stop_spills_the_writers_queue_and_empties_it(tmp_path: Path):
    daemon = build_daemon(
        DaemonConfig(spill_dir=tmp_path), feeds=[], candles=lambda before: [], start_ts=T0
    )
    for write in round_trip_writes():
        daemon.writer.put(write)
    daemon.writer.outage_error = "OperationalError: database is away"

    with capture_logs() as logs:
        daemon.persistence._spill_unwritten()

    assert daemon.writer.pending == 0
    spilled = [entry for entry in logs if entry["event"] == "persist_spilled"]
    assert spilled == [
        {
            "event": "persist_spilled",
            "log_level": "warning",
            "count": 6,
            "path": str(tmp_path / "persist-spill-000001.jsonl"),
            "writes": {
                "decision_record": 1,
                "position_open": 1,
                "position_update": 1,
                "position_close": 1,
                "bankroll_record": 1,
                "save_rows": 1,
            },
            "error": "OperationalError: database is away",
        }
    ]


@pytest.mark.django_db
def test_applying_writes_every_row_in_order_then_removes_the_file(tmp_path: Path):
    spill.spill_save(spill.spill_lines(round_trip_writes())[0], tmp_path)

    with capture_logs() as logs:
        result = spill.spill_apply(tmp_path)

    assert result is not None
    assert (result["applied"], result["already_written"], result["failed"]) == (6, 0, 0)
    assert [entry["event"] for entry in logs] == ["persist_spill_applied"]
    assert spill.spill_files(tmp_path) == []
    trade = Trade.objects.get()
    assert (trade.position_uid, trade.pnl) == ("paper-pos-1", Decimal("0.230000"))
    assert not OpenPosition.objects.exists()
    assert Decision.objects.count() == 1
    assert BankrollSnapshot.objects.count() == 1
    assert BotState.objects.get(lane="paper").bankroll == Decimal("1001.230000")


@pytest.mark.django_db
def test_applying_again_writes_no_row_twice(tmp_path: Path):
    """A start that died after the commit and before the file's removal applies it again;
    a batch whose commit reached the database but whose answer was lost is spilled too."""
    lines = spill.spill_lines(round_trip_writes())[0]
    spill.spill_save(lines, tmp_path)
    spill.spill_apply(tmp_path)
    spill.spill_save(lines, tmp_path)

    result = spill.spill_apply(tmp_path)

    assert result is not None
    # the open, the close, the decision and the bankroll point were there already; the
    # update and the state save set the same values again
    assert (result["applied"], result["already_written"], result["failed"]) == (2, 4, 0)
    assert Trade.objects.count() == 1
    assert not OpenPosition.objects.exists()
    assert Decision.objects.count() == 1
    assert BankrollSnapshot.objects.count() == 1


@pytest.mark.django_db
def test_two_signal_log_rows_sharing_a_millisecond_are_both_written_once(tmp_path: Path):
    change = round_trip_writes()[0].kwargs | {"kind": "change", "skip_reason": "SPREAD"}
    lines = spill.spill_lines([Write(decision_record, change), Write(decision_record, change)])[0]
    spill.spill_save(lines, tmp_path)
    first = spill.spill_apply(tmp_path)
    spill.spill_save(lines, tmp_path)
    second = spill.spill_apply(tmp_path)

    assert first is not None
    assert second is not None
    assert (first["applied"], second["applied"], second["already_written"]) == (2, 0, 2)
    assert Decision.objects.count() == 2


@pytest.mark.django_db
def test_a_position_still_open_is_not_opened_twice(tmp_path: Path):
    writes = round_trip_writes()
    position_open(**writes[1].kwargs)
    spill.spill_save(spill.spill_lines(writes[1:4])[0], tmp_path)

    result = spill.spill_apply(tmp_path)

    assert result is not None
    assert (result["applied"], result["already_written"]) == (2, 1)
    assert Trade.objects.get().fees == Decimal("0.370000")


@pytest.mark.django_db
def test_a_line_that_cannot_be_read_stops_the_start_naming_the_file_and_the_line(
    tmp_path: Path,
):
    lines = spill.spill_lines(round_trip_writes())[0]
    path = spill.spill_save([lines[0], lines[1][:40], *lines[2:]], tmp_path)

    with pytest.raises(SpillError) as error:
        spill.spill_apply(tmp_path)

    assert f"spill file {path}, line 2: not JSON" in str(error.value)
    assert path.exists()  # kept for the operator, never discarded
    assert not Decision.objects.exists()  # nothing applied, not even line 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"format": 1, "db": "d", "write": "drop_table", "kwargs": {}}', "unknown write"),
        ('{"format": 2, "db": "d", "write": "position_close", "kwargs": {}}', "unknown format 2"),
        (
            '{"format": 1, "db": "d", "write": "position_update", "kwargs": {"uid": "x"}}',
            "position_update",
        ),
        ('{"format": 1, "write": "position_update", "kwargs": {}}', "no database named"),
        ("[1, 2]", "not a JSON object"),
        ("", "not JSON"),
    ],
)
def test_a_line_that_is_json_but_not_a_write_is_refused_too(tmp_path: Path, line: str, reason: str):
    good = spill.spill_lines(round_trip_writes()[:1])[0]
    path = spill.spill_save([good[0], good[0], line], tmp_path)

    with pytest.raises(SpillError, match=f"line 3: {reason}"):
        spill.spill_apply(tmp_path)
    assert path.exists()


@pytest.mark.django_db
def test_an_outage_during_the_apply_keeps_the_file_and_commits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = spill.spill_save(spill.spill_lines(round_trip_writes())[0], tmp_path)

    def away(**kwargs: object) -> None:
        raise OperationalError("the database went away")

    monkeypatch.setitem(spill.SPILLABLE, "state_save", spill._Kind(away))

    with pytest.raises(OperationalError):
        spill.spill_apply(tmp_path)

    assert path.exists()
    assert not Trade.objects.exists()
    assert not Decision.objects.exists()


@pytest.mark.django_db
def test_a_spill_of_another_database_is_left_alone(tmp_path: Path):
    """A test run or a benchmark sharing the data directory must not take a production
    daemon's spill (nor apply it to the wrong database)."""
    lines = spill.spill_lines(round_trip_writes())[0]
    foreign = [line.replace(spill.database_identity(), "postgresql:kbtc@db:5432") for line in lines]
    path = spill.spill_save(foreign, tmp_path)

    with capture_logs() as logs:
        assert spill.spill_apply(tmp_path) is None

    assert path.exists()
    assert not Trade.objects.exists()
    assert [entry["event"] for entry in logs] == ["persist_spill_other_database"]


def test_no_spill_directory_means_nothing_to_apply(tmp_path: Path):
    assert spill.spill_apply(tmp_path / "missing") is None
