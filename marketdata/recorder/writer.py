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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
import structlog
from django.db import Error as DjangoDatabaseError
from django.db import connection

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
        # Batches taken from _pending, prepared (rows built) and waiting to be stored, oldest
        # first. A failed store leaves its batch at the head: retried verbatim, in order.
        self._prepared: deque[PreparedBatch] = deque()
        self._prepared_events = 0
        # Row building runs on its own thread so it overlaps the database's work on the
        # previous batch (the ORM thread mostly waits on the socket, without the GIL).
        self._prepare_executor = ThreadPoolExecutor(1, thread_name_prefix="recorder-prepare")
        self._check_stored = False  # after a failed commit: did it land anyway?
        self._deriver = StreamDeriver(copy_text=connection.vendor == "postgresql")
        self._wakeup = asyncio.Event()
        self._drop_episode: tuple[int, int] | None = None  # (first seq, dropped at start)
        self._drop_logged_at = 0.0
        self._store = db_call(self._store_sync)
        self._close_session = db_call(store.session_close)

    # --- the hot path ------------------------------------------------------------------------

    def record(self, event: Event) -> None:
        """Queue one event for storage. Never blocks, never touches the database."""
        self.emitted += 1
        if len(self._pending) + self._prepared_events >= self.buffer_bound:
            self._drop(self.emitted)
            return
        if self._drop_episode is not None:
            self._end_drop_episode()
        self._pending.append((self.emitted, event))
        if len(self._pending) >= self.batch_size:
            self._wakeup.set()

    @property
    def buffered(self) -> int:
        return len(self._pending) + self._prepared_events

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
            self._prepared.clear()
            self._prepared_events = 0
        if self.session_id is not None:
            try:
                await self._close_session(session_id=self.session_id, dropped=self.dropped)
            except _DB_ERRORS:
                log.warning("recorder_session_close_failed", session_id=self.session_id)
        self._prepare_executor.shutdown(wait=False)
        log.info("recorder_closed", **self._counters())

    async def _flush_one(self) -> None:
        """Store the oldest batch; meanwhile prepare the next one if there is a full one."""
        if not self._prepared:
            await self._prepare_next()
        head = self._prepared[0]
        storing = asyncio.ensure_future(self._store(head))
        if len(self._prepared) == 1 and len(self._pending) >= self.batch_size:
            await self._prepare_next()
        try:
            await storing
        except _DB_ERRORS as exc:
            self.flush_errors += 1
            self._check_stored = True
            log.error(
                "recorder_flush_failed",
                error=f"{type(exc).__name__}: {exc}".strip(),
                **self._counters(),
            )
            raise
        self._prepared.popleft()
        self._prepared_events -= head.events
        self.recorded += head.events

    async def _prepare_next(self) -> None:
        count = min(self.batch_size, len(self._pending))
        batch = [self._pending.popleft() for _ in range(count)]
        self._prepared_events += count
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(self._prepare_executor, self._deriver.prepare, batch)
        self._prepared.append(prepared)

    def _store_sync(self, prepared: PreparedBatch) -> None:
        """Runs on the ORM thread; the same prepared rows are written again on a retry."""
        if self.session_id is None:
            self.session_id = store.session_open(label=self.label)
        if self._check_stored:
            landed = store.session_last_seq(session_id=self.session_id) >= prepared.last_seq
            self._check_stored = False
            if landed:  # the commit went through before the connection died
                log.warning("recorder_batch_already_stored", last_seq=prepared.last_seq)
                return
        store.batch_store(session_id=self.session_id, batch=prepared, dropped=self.dropped)

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
