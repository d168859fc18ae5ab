"""Read a recorded stream back as events, in the order the engine consumed them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.db import connection

from marketdata.model.events import Event, event_from_dict
from marketdata.models import RecordedEvent
from marketdata.recorder.rows import ms_to_utc


def iter_events(
    start_ts: int | None = None,
    end_ts: int | None = None,
    kinds: Iterable[str] | None = None,
    *,
    session_id: int | None = None,
    chunk_size: int = 5_000,
) -> Iterator[Event]:
    """Events with ``start_ts <= ts < end_ts`` (epoch ms; None = unbounded), optionally only
    some kinds and one session, in stored order: by session, then by sequence number.

    Sequence order is consumption order, which need not be ``ts`` order (feeds interleave);
    replaying by ``ts`` would reorder what the engine saw.
    """
    for _, _, event in iter_keyed_events(
        start_ts, end_ts, kinds, session_id=session_id, chunk_size=chunk_size
    ):
        yield event


def iter_keyed_events(
    start_ts: int | None = None,
    end_ts: int | None = None,
    kinds: Iterable[str] | None = None,
    *,
    session_id: int | None = None,
    chunk_size: int = 5_000,
) -> Iterator[tuple[int, int, Event]]:
    """``iter_events`` with each event's journal key: ``(session id, seq, event)``."""
    events = RecordedEvent.objects.all()
    if start_ts is not None:
        events = events.filter(ts__gte=ms_to_utc(start_ts))
    if end_ts is not None:
        events = events.filter(ts__lt=ms_to_utc(end_ts))
    if kinds is not None:
        events = events.filter(kind__in=list(kinds))
    if session_id is not None:
        events = events.filter(session_id=session_id)
    rows = events.order_by("session_id", "seq").values_list("session_id", "seq", "kind", "fields")
    for session, seq, kind, fields in rows.iterator(chunk_size=chunk_size):
        yield session, seq, event_from_dict(kind, fields)


def session_gaps(session_id: int) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` seq ranges missing from a session: events dropped while the
    buffer was full. A replay across a gap is not a faithful replay."""
    table = connection.ops.quote_name(RecordedEvent._meta.db_table)
    sql = (
        f"SELECT prev + 1, seq - 1 FROM (SELECT seq, LAG(seq, 1, 0) OVER (ORDER BY seq) AS prev "
        f"FROM {table} WHERE session_id = %s) AS ordered WHERE seq > prev + 1 ORDER BY seq"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [session_id])
        return [(int(first), int(last)) for first, last in cursor.fetchall()]
