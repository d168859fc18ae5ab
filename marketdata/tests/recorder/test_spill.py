"""Recorder spill files: their format, an idempotent apply, and a file that cannot be read."""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from kbtc_core.spillfiles import SpillError, database_identity
from marketdata.model.events import event_to_dict
from marketdata.models import RecordedEvent, RecordingSession
from marketdata.recorder import Recorder, iter_events, session_gaps
from marketdata.recorder.derive import journal_json
from marketdata.recorder.spill import (
    spill_apply,
    spill_files,
    spill_lines,
    spill_save,
)
from marketdata.tests.factories import market_with_own_orders

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


def _sync(fn):
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    return sync_to_async(run, thread_sensitive=False)


def _lines(events, *, session_id, token="tok1", first_seq=1, db=None, dropped=0):
    return spill_lines(
        list(enumerate(events, start=first_seq)),
        db=db or database_identity(),
        session_id=session_id,
        token=token,
        label="test",
        dropped=dropped,
        ended_ms=1_767_225_600_000,
    )


def _session_events(session_id):
    return list(iter_events(session_id=session_id))


def test_a_line_is_the_journal_row_with_its_session_and_sequence(db):
    events = market_with_own_orders(300, seed=31)
    lines = _lines(events, session_id=7, first_seq=41, dropped=3)

    assert len(lines) == len(events)
    kinds = set()
    for seq, (line, event) in enumerate(zip(lines, events, strict=True), start=41):
        record = json.loads(line)
        assert record == {
            "format": 1,
            "db": database_identity(),
            "session": 7,
            "token": "tok1",
            "label": "test",
            "seq": seq,
            "kind": event.kind,
            "fields": json.loads(journal_json(event)),
            "dropped": 3,
            "ended_ms": 1_767_225_600_000,
        }
        assert record["fields"] == json.loads(json.dumps(event_to_dict(event)))
        assert journal_json(event) in line  # the journal's text verbatim
        kinds.add(event.kind)
    assert {"book_snapshot", "book_delta", "public_trade", "market_status"} <= kinds


def test_save_numbers_files_and_never_overwrites(tmp_path):
    first = spill_save(["a"], tmp_path)
    second = spill_save(["b"], tmp_path)
    (tmp_path / "recorder-spill-000005.jsonl").write_text("c\n")
    third = spill_save(["d"], tmp_path)

    assert [p.name for p in (first, second, third)] == [
        "recorder-spill-000001.jsonl",
        "recorder-spill-000002.jsonl",
        "recorder-spill-000006.jsonl",
    ]
    assert (first.read_text(), third.read_text()) == ("a\n", "d\n")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


async def test_apply_stores_what_is_missing_once_in_order_and_a_second_apply_changes_nothing(
    tmp_path,
):
    events = market_with_own_orders(600, seed=32)
    recorder = Recorder(batch_size=100, spill_dir=tmp_path / "none")
    for event in events[:250]:
        recorder.record(event)
    await recorder.flush()  # seq 1..250 stored; the spill holds 1..600 (an ambiguous commit)
    session_id = recorder.session_id
    await recorder.close(timeout_s=1)
    path = spill_save(_lines(events, session_id=session_id), tmp_path / "spills")
    keep = tmp_path / "copy.jsonl"
    shutil.copy(path, keep)

    first = await _sync(spill_apply)(tmp_path / "spills")
    shutil.copy(keep, path)  # as if the process died between the commit and the unlink
    second = await _sync(spill_apply)(tmp_path / "spills")

    assert (first["applied"], first["already_stored"]) == (350, 250)
    assert (second["applied"], second["already_stored"]) == (0, 600)
    assert first["sessions"] == second["sessions"] == [session_id]
    assert spill_files(tmp_path / "spills") == []
    stored = await _sync(_session_events)(session_id)
    assert stored == events
    session = await _sync(RecordingSession.objects.get)(pk=session_id)
    assert (session.recorded, session.dropped) == (600, 0)
    assert await _sync(session_gaps)(session_id) == []


async def test_a_session_never_opened_gets_one_session_even_when_applied_twice(tmp_path):
    events = market_with_own_orders(120, seed=33)
    path = spill_save(_lines(events, session_id=None, token="abc123"), tmp_path)
    keep = path.read_text()

    await _sync(spill_apply)(tmp_path)
    path.write_text(keep)
    await _sync(spill_apply)(tmp_path)

    sessions = await _sync(lambda: list(RecordingSession.objects.values_list("pk", "label")))()
    assert len(sessions) == 1
    session_id, label = sessions[0]
    assert label == "test [spill abc123]"
    assert await _sync(_session_events)(session_id) == events
    session = await _sync(RecordingSession.objects.get)(pk=session_id)
    assert session.recorded == 120
    assert session.ended_at is not None


async def test_files_are_applied_in_order(tmp_path):
    events = market_with_own_orders(200, seed=34)
    session_id = await _sync(
        lambda: RecordingSession.objects.create(started_at="2026-01-01T00:00Z").pk
    )()
    spill_save(_lines(events[:80], session_id=session_id), tmp_path)
    spill_save(_lines(events[80:], session_id=session_id, first_seq=81), tmp_path)

    result = await _sync(spill_apply)(tmp_path)

    assert (len(result["files"]), result["applied"]) == (2, 200)
    assert await _sync(_session_events)(session_id) == events


async def test_a_corrupt_line_stops_the_start_naming_file_and_line_and_applies_nothing(
    tmp_path,
):
    events = market_with_own_orders(50, seed=35)
    spill_save(_lines(events[:20], session_id=None, token="good"), tmp_path)
    lines = _lines(events[20:], session_id=None, token="bad", first_seq=21)
    lines[2] = lines[2][:-9]  # cut short: not JSON
    bad = spill_save(lines, tmp_path)

    with pytest.raises(SpillError, match=rf"{bad}, line 3: not JSON"):
        await _sync(spill_apply)(tmp_path)
    lines = _lines(events[20:], session_id=None, token="bad", first_seq=21)
    lines[2] = lines[2].replace('"kind":"', '"kind":"no_such_')
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(SpillError, match=rf"{bad}, line 3: unknown event kind"):
        await _sync(spill_apply)(tmp_path)

    recorder = Recorder(spill_dir=tmp_path)
    with pytest.raises(SpillError, match=r"line 3"):
        await recorder.run(asyncio.Event())  # the recorder does not start either
    assert await _sync(RecordedEvent.objects.count)() == 0
    assert len(spill_files(tmp_path)) == 2  # both kept


async def test_a_spill_of_another_database_is_left_alone(tmp_path):
    events = market_with_own_orders(30, seed=36)
    path = spill_save(_lines(events, session_id=None, db="postgresql:other@h:1"), tmp_path)

    assert await _sync(spill_apply)(tmp_path) is None
    assert path.exists()
    assert await _sync(RecordedEvent.objects.count)() == 0


async def test_a_recorder_applies_waiting_spills_before_its_own_events(tmp_path):
    events = market_with_own_orders(300, seed=37)
    spill_save(_lines(events[:100], session_id=None, token="earlier"), tmp_path)
    recorder = Recorder(batch_size=50, flush_interval_s=0.02, spill_dir=tmp_path)
    stop = asyncio.Event()
    writer = asyncio.create_task(recorder.run(stop))
    for event in events[100:]:
        recorder.record(event)
    deadline = time.monotonic() + 30
    while recorder.recorded < 200 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    stop.set()
    await writer

    assert spill_files(tmp_path) == []
    sessions = await _sync(
        lambda: list(RecordingSession.objects.order_by("pk").values_list("pk", flat=True))
    )()
    assert len(sessions) == 2  # the spilled session was written first
    assert await _sync(_session_events)(sessions[0]) == events[:100]
    assert await _sync(_session_events)(recorder.session_id) == events[100:]
    assert sessions[1] == recorder.session_id
