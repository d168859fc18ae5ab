"""Events a recorder stop could not store (the database away) kept on disk until the next start.

The recorder buffers events during a database outage; a stop while the database is still
away used to count them as lost. Now ``Recorder.close`` writes them to a spill file in the
data directory, and the next recorder applies the waiting files, in order, before it stores
any new event, as the trading daemon does with its rows (``trading/runtime/spill.py``); the
files themselves are handled by ``kbtc_core.spillfiles``.

Format: ``recorder-spill-NNNNNN.jsonl``, one event per line, in the order recorded::

    {"format": 1, "db": "...", "session": 12, "token": "...", "label": "run_trader",
     "seq": 4711, "kind": "book_delta", "fields": {...}, "dropped": 0, "ended_ms": ...}

``kind`` and ``fields`` are the journal's columns exactly as the recorder stores them
(``journal_json``), ``session``/``seq`` the journal's key: applying is idempotent (a seq
already stored in its session is not written again). ``session`` is null when the recorder
never reached the database; the apply then opens one session per ``token``, labelled with it,
so a second apply finds it instead of opening another. ``dropped`` and ``ended_ms`` close the
session (its own close failed with the database away).

Files are applied in one transaction and removed only after it committed; a line that cannot
be read stops the start naming the file and the line, and nothing is applied (see
``kbtc_core.spillfiles``). ``db`` names the database the events belong to: a recorder on
another one leaves the file alone.

What is not restored: the derived candles and book snapshots of the spilled events (they
need the deriver's running state); public trades and market rows are, being stateless.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from kbtc_core.spillfiles import SpillDirectory, spill_line
from marketdata.model.events import (
    Event,
    EventFormatError,
    MarketStatus,
    PublicTrade,
    event_from_dict,
)
from marketdata.models import Market, PublicTradeRecord, RecordedEvent, RecordingSession
from marketdata.recorder.derive import _market_row, _trade_row, journal_json
from marketdata.recorder.rows import ms_to_utc
from marketdata.recorder.store import _MARKET_UPDATE_FIELDS

log = structlog.get_logger(__name__)

PREFIX = "recorder-spill"
_LABEL_MAX = RecordingSession._meta.get_field("label").max_length or 100


@dataclass(frozen=True, slots=True)
class SpilledEvent:
    db: str
    session: int | None
    token: str
    label: str
    seq: int
    kind: str
    fields: dict[str, Any]
    dropped: int
    ended_ms: int
    line: int

    def event(self) -> Event:
        return event_from_dict(self.kind, self.fields)


# --- writing (the stop) ------------------------------------------------------------------


def new_token() -> str:
    return uuid.uuid4().hex[:20]


def spill_lines(
    events: Sequence[tuple[int, Event]],
    *,
    db: str,
    session_id: int | None,
    token: str,
    label: str,
    dropped: int,
    ended_ms: int,
) -> list[str]:
    """One JSON line per ``(seq, event)``; ``fields`` is the journal's text verbatim."""
    head = spill_line(db, session=session_id, token=token, label=label)[:-1]
    tail = f',"dropped":{int(dropped)},"ended_ms":{int(ended_ms)}}}'
    return [
        f'{head},"seq":{int(seq)},"kind":{json.dumps(event.kind)},"fields":{journal_json(event)}'
        + tail
        for seq, event in events
    ]


def spill_files(directory: Path) -> list[Path]:
    return SpillDirectory(directory, PREFIX).files()


def spill_save(lines: Sequence[str], directory: Path) -> Path:
    return SpillDirectory(directory, PREFIX).save(lines)


# --- reading and applying (the next start) -----------------------------------------------


def _int(record: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} is not an integer: {value!r:.80}")
    return value


def _str(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string: {value!r:.80}")
    return value


def _parse(record: dict[str, Any], number: int) -> SpilledEvent:
    fields = record.get("fields")
    if not isinstance(fields, dict):
        raise ValueError("fields is not an object")
    spilled = SpilledEvent(
        db=record["db"],
        session=_int(record, "session", optional=True),
        token=_str(record, "token"),
        label=_str(record, "label"),
        seq=_int(record, "seq"),
        kind=_str(record, "kind"),
        fields=fields,
        dropped=_int(record, "dropped"),
        ended_ms=_int(record, "ended_ms"),
        line=number,
    )
    if spilled.seq < 1:
        raise ValueError(f"seq {spilled.seq} is not positive")
    if not spilled.token:
        raise ValueError("empty token")
    try:
        spilled.event()
    except EventFormatError as exc:
        raise ValueError(str(exc)) from exc
    return spilled


def spill_apply(directory: Path) -> dict[str, Any] | None:
    """Apply every waiting spill file of this database in order, in one transaction, then
    remove them. Every file is read first: a bad line stops with nothing applied. A database
    error raises and leaves the files in place."""
    spilled = SpillDirectory(directory, PREFIX).waiting(_parse, stops="the recorder")
    if not spilled:
        return None
    groups: dict[tuple[int | None, str], list[SpilledEvent]] = {}
    for _, events in spilled:
        for event in events:
            groups.setdefault((event.session, event.token), []).append(event)
    counts = {"applied": 0, "already_stored": 0}
    sessions: list[int] = []
    with transaction.atomic():
        for events in groups.values():
            session_id, applied = _apply_session(events)
            sessions.append(session_id)
            counts["applied"] += applied
            counts["already_stored"] += len(events) - applied
    files = [path for path, _ in spilled]
    SpillDirectory(directory, PREFIX).remove(files)  # only now: the transaction committed
    result: dict[str, Any] = {"files": [str(path) for path in files], "sessions": sessions}
    result |= counts
    log.info("recorder_spill_applied", **result)
    return result


def _session_for(first: SpilledEvent) -> int:
    if first.session is not None and RecordingSession.objects.filter(pk=first.session).exists():
        return first.session
    # Never opened (the database was away from the start), or gone: one session per token.
    tag = f" [spill {first.token}]"
    label = first.label[: _LABEL_MAX - len(tag)] + tag
    found = RecordingSession.objects.filter(label=label).values_list("pk", flat=True).first()
    if found is not None:
        return found
    return RecordingSession.objects.create(started_at=timezone.now(), label=label).pk


def _apply_session(events: list[SpilledEvent]) -> tuple[int, int]:
    """(session id, events written) for one recorder's spilled events."""
    session_id = _session_for(events[0])
    seqs = [event.seq for event in events]
    stored = set(
        RecordedEvent.objects.filter(
            session_id=session_id, seq__gte=min(seqs), seq__lte=max(seqs)
        ).values_list("seq", flat=True)
    )
    rows: list[RecordedEvent] = []
    trades: list[PublicTradeRecord] = []
    markets: dict[str, Market] = {}
    for spilled in events:
        if spilled.seq in stored:
            continue
        stored.add(spilled.seq)
        event = spilled.event()
        rows.append(
            RecordedEvent(
                session_id=session_id,
                seq=spilled.seq,
                ts=ms_to_utc(event.ts),
                kind=spilled.kind,
                ticker=getattr(event, "ticker", ""),
                fields=spilled.fields,
            )
        )
        if isinstance(event, PublicTrade):
            trades.append(_trade_row(event))
        elif isinstance(event, MarketStatus):
            markets[event.ticker] = _market_row(event)
    RecordedEvent.objects.bulk_create(rows, batch_size=1_000)
    if trades:
        PublicTradeRecord.objects.bulk_create(trades, ignore_conflicts=True)
    if markets:
        Market.objects.bulk_create(
            list(markets.values()),
            update_conflicts=True,
            unique_fields=["ticker"],
            update_fields=_MARKET_UPDATE_FIELDS,
        )
    last = events[-1]
    ended: datetime = ms_to_utc(last.ended_ms)
    RecordingSession.objects.filter(pk=session_id).update(
        recorded=F("recorded") + len(rows),
        dropped=last.dropped,
        ended_at=Coalesce(F("ended_at"), ended),
    )
    return session_id, len(rows)
