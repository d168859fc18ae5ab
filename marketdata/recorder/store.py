"""Synchronous database writes of the recorder (run on the ORM thread through ``db_call``)."""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from marketdata.models import Candle, Market, OrderBookSnapshot, PublicTradeRecord, RecordedEvent
from marketdata.models import RecordingSession as Session
from marketdata.recorder.derive import PreparedBatch

_MARKET_UPDATE_FIELDS = [
    "status",
    "strike",
    "open_time",
    "close_time",
    "result",
    "fee_type",
    "fee_multiplier",
    "status_time",
]


def session_open(*, label: str) -> int:
    return Session.objects.create(started_at=timezone.now(), label=label).pk


def session_close(*, session_id: int, dropped: int) -> None:
    Session.objects.filter(pk=session_id).update(ended_at=timezone.now(), dropped=dropped)


def session_last_seq(*, session_id: int) -> int:
    """Highest stored seq of a session (0 if none): tells whether an ambiguous commit landed."""
    last = (
        RecordedEvent.objects.filter(session_id=session_id)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    return last or 0


def batch_store(*, session_id: int, batch: PreparedBatch, dropped: int) -> None:
    """One batch in one transaction: the journal rows, the derived rows, the session counters."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _copy_events(session_id, batch)
        else:
            RecordedEvent.objects.bulk_create(
                [
                    RecordedEvent(
                        session_id=session_id,
                        seq=seq,
                        ts=ts,
                        kind=kind,
                        ticker=ticker,
                        fields=fields,
                    )
                    for seq, ts, kind, ticker, fields in _decoded(batch)
                ],
                batch_size=500,
            )
        if batch.candles:
            Candle.objects.bulk_create(batch.candles, ignore_conflicts=True)
        if batch.snapshots:
            OrderBookSnapshot.objects.bulk_create(batch.snapshots, ignore_conflicts=True)
        if batch.trades:
            PublicTradeRecord.objects.bulk_create(batch.trades, ignore_conflicts=True)
        if batch.markets:
            Market.objects.bulk_create(
                list(batch.markets.values()),
                update_conflicts=True,
                unique_fields=["ticker"],
                update_fields=_MARKET_UPDATE_FIELDS,
            )
        Session.objects.filter(pk=session_id).update(
            recorded=F("recorded") + batch.events, dropped=dropped
        )


def _copy_events(session_id: int, batch: PreparedBatch) -> None:
    table = connection.ops.quote_name(RecordedEvent._meta.db_table)
    sql = f"COPY {table} (session_id, seq, ts, kind, ticker, fields) FROM STDIN"
    prefix = f"{session_id}\t"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        if batch.copy_lines:
            copy.write("".join([prefix + line for line in batch.copy_lines]))
        for seq, ts, kind, ticker, fields in batch.event_rows:
            copy.write_row((session_id, seq, ts, kind, ticker, fields))


def _decoded(batch: PreparedBatch) -> list[tuple[int, datetime, str, str, object]]:
    return [
        (seq, ts, kind, ticker, json.loads(text))
        for seq, ts, kind, ticker, text in batch.event_rows
    ]
