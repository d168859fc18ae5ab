"""The recorder: every consumed event into the journal, without ever making a feed wait.

``record(event)`` is synchronous and O(1): it numbers the event and appends it to an
in-memory buffer. ``run(stop)`` drains the buffer in batches on the ORM thread (COPY on
PostgreSQL). When the database is down, batches stay in the buffer and are retried in
order; once the buffer holds ``buffer_bound`` events, new events are dropped, counted and
logged (their sequence numbers stay missing in the journal, so a replay can see the gap).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
import structlog
from django.db import Error as DjangoDatabaseError

from kbtc_site.db import db_call
from marketdata.model.events import Event
from marketdata.recorder import store
from marketdata.recorder.derive import PreparedBatch, StreamDeriver

log = structlog.get_logger(__name__)

_DB_ERRORS = (DjangoDatabaseError, psycopg.Error)
DROP_LOG_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class RecorderStats:
    """Counters for the health panel."""

    emitted: int  # events handed to record()
    recorded: int  # events stored
    dropped: int  # events lost to a full buffer (or unstorable at shutdown)
    buffered: int  # events waiting to be stored
    flush_errors: int  # failed flush attempts (database errors)
    session_id: int | None


class Recorder:
    def __init__(
        self,
        *,
        buffer_bound: int = 200_000,
        batch_size: int = 2_000,
        flush_interval_s: float = 0.5,
        retry_max_s: float = 1.0,
        label: str = "",
    ) -> None:
        if buffer_bound < 1 or batch_size < 1:
            raise ValueError("buffer_bound and batch_size must be positive")
        self.buffer_bound = buffer_bound
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_max_s = retry_max_s
        self.label = label
        self.emitted = 0
        self.recorded = 0
        self.dropped = 0
        self.flush_errors = 0
        self.session_id: int | None = None
        self._pending: deque[tuple[int, Event]] = deque()
        self._inflight: list[tuple[int, Event]] = []
        self._prepared: PreparedBatch | None = None
        self._check_stored = False  # after a failed commit: did it land anyway?
        self._deriver = StreamDeriver()
        self._wakeup = asyncio.Event()
        self._drop_episode: tuple[int, int] | None = None  # (first seq, dropped at start)
        self._drop_logged_at = 0.0
        self._store = db_call(self._store_sync)
        self._close_session = db_call(store.session_close)

    # --- the hot path ------------------------------------------------------------------------

    def record(self, event: Event) -> None:
        """Queue one event for storage. Never blocks, never touches the database."""
        self.emitted += 1
        if len(self._pending) + len(self._inflight) >= self.buffer_bound:
            self._drop(self.emitted)
            return
        if self._drop_episode is not None:
            self._end_drop_episode()
        self._pending.append((self.emitted, event))
        if len(self._pending) >= self.batch_size:
            self._wakeup.set()

    @property
    def buffered(self) -> int:
        return len(self._pending) + len(self._inflight)

    def stats(self) -> RecorderStats:
        return RecorderStats(
            emitted=self.emitted,
            recorded=self.recorded,
            dropped=self.dropped,
            buffered=self.buffered,
            flush_errors=self.flush_errors,
            session_id=self.session_id,
        )

    # --- the writer --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Drain batches until ``stop`` is set, then flush what is left (``close``)."""
        failures = 0
        while not stop.is_set():
            if len(self._pending) < self.batch_size:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.flush_interval_s)
            try:
                while self.buffered and not stop.is_set():
                    await self._flush_one()
                    failures = 0
                    if len(self._pending) < self.batch_size:
                        break  # a partial batch waits for the next interval
            except _DB_ERRORS:
                failures += 1
                await asyncio.sleep(min(self.retry_max_s, 0.05 * 2**failures))
            self._log_ongoing_drops()
        await self.close()

    async def flush(self) -> None:
        """Store everything buffered now (raises on a database error; the events stay)."""
        while self.buffered:
            await self._flush_one()

    async def close(self, *, timeout_s: float = 10.0) -> None:
        """Flush what is buffered, retrying for up to ``timeout_s``; what still cannot be
        stored is counted as dropped and logged."""
        deadline = time.monotonic() + timeout_s
        failures = 0
        while self.buffered and time.monotonic() < deadline:
            try:
                await self._flush_one()
            except _DB_ERRORS:
                failures += 1
                await asyncio.sleep(min(self.retry_max_s, 0.05 * 2**failures))
        if self._drop_episode is not None:
            self._end_drop_episode()
        if self.buffered:
            lost = self.buffered
            self.dropped += lost
            log.error("recorder_lost_on_close", lost=lost, **self._counters())
            self._pending.clear()
            self._inflight = []
            self._prepared = None
        if self.session_id is not None:
            try:
                await self._close_session(session_id=self.session_id, dropped=self.dropped)
            except _DB_ERRORS:
                log.warning("recorder_session_close_failed", session_id=self.session_id)
        log.info("recorder_closed", **self._counters())

    async def _flush_one(self) -> None:
        if not self._inflight:
            count = min(self.batch_size, len(self._pending))
            self._inflight = [self._pending.popleft() for _ in range(count)]
        try:
            stored = await self._store(self._inflight)
        except _DB_ERRORS as exc:
            self.flush_errors += 1
            self._check_stored = True
            log.error(
                "recorder_flush_failed",
                error=f"{type(exc).__name__}: {exc}".strip(),
                **self._counters(),
            )
            raise
        self.recorded += stored
        self._inflight = []

    def _store_sync(self, batch: Sequence[tuple[int, Event]]) -> int:
        """Runs on the ORM thread. The batch is prepared once and rewritten verbatim on retry."""
        if self._prepared is None:
            self._prepared = self._deriver.prepare(batch)
        prepared = self._prepared
        if self.session_id is None:
            self.session_id = store.session_open(label=self.label)
        if self._check_stored:
            already = store.session_last_seq(session_id=self.session_id) >= prepared.last_seq
            self._check_stored = False
            if already:
                log.warning("recorder_batch_already_stored", last_seq=prepared.last_seq)
                self._prepared = None
                return len(batch)
        store.batch_store(session_id=self.session_id, batch=prepared, dropped=self.dropped)
        self._prepared = None
        return len(batch)

    # --- drops -------------------------------------------------------------------------------

    def _drop(self, seq: int) -> None:
        self.dropped += 1
        if self._drop_episode is None:
            self._drop_episode = (seq, self.dropped - 1)
            self._drop_logged_at = time.monotonic()
            log.error(
                "recorder_buffer_full_dropping_events",
                first_seq=seq,
                buffer_bound=self.buffer_bound,
                **self._counters(),
            )

    def _end_drop_episode(self) -> None:
        assert self._drop_episode is not None
        first_seq, dropped_before = self._drop_episode
        self._drop_episode = None
        log.error(
            "recorder_dropped_events",
            count=self.dropped - dropped_before,
            first_seq=first_seq,
            last_seq=first_seq + self.dropped - dropped_before - 1,
            **self._counters(),
        )

    def _log_ongoing_drops(self) -> None:
        if self._drop_episode is None:
            return
        now = time.monotonic()
        if now - self._drop_logged_at >= DROP_LOG_EVERY_S:
            self._drop_logged_at = now
            log.error("recorder_still_dropping_events", **self._counters())

    def _counters(self) -> dict[str, int | None]:
        return {
            "emitted": self.emitted,
            "recorded": self.recorded,
            "dropped": self.dropped,
            "buffered": self.buffered,
            "flush_errors": self.flush_errors,
            "session_id": self.session_id,
        }
