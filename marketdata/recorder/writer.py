"""The recorder: every consumed event into the journal, without ever making a feed wait.

``record(event)`` is synchronous and O(1): it numbers the event and appends it to an
in-memory buffer. ``run(stop)`` drains the buffer in batches on the ORM thread (COPY on
PostgreSQL). When the database is down, batches stay in the buffer and are retried in
order; once the buffer holds ``buffer_bound`` events, new events are dropped, counted and
logged (their sequence numbers stay missing in the journal, so a replay can see the gap).
That drop is the recorder's answer to overload, chosen over back-pressure (the feeds and the
engine must never wait on the database) and over spilling to disk while running (a disk slow
enough to matter would stall the same way): it is never silent. ``health()`` says how deep
the buffer is, how far behind in market time the journal is and how many events were
dropped, and the daemon reports it on the health panel and ``/healthz``.

A stop while the database is still away spills what is buffered to a file in the data
directory (``marketdata.recorder.spill``); the next recorder applies waiting spills before
it stores anything of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import structlog
from django.conf import settings
from django.db import Error as DjangoDatabaseError
from django.db import connection

from kbtc_core.db import db_call
from kbtc_core.spillfiles import database_identity
from marketdata.model.events import Event
from marketdata.recorder import spill, store
from marketdata.recorder.derive import PreparedBatch, StreamDeriver

log = structlog.get_logger(__name__)

_DB_ERRORS = (DjangoDatabaseError, psycopg.Error)
DROP_LOG_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class RecorderStats:
    """Counters for the health panel."""

    emitted: int  # events handed to record()
    recorded: int  # events stored
    dropped: int  # events lost to a full buffer (or unstorable and unspillable at shutdown)
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
        spill_dir: Path | str | None = None,
        close_timeout_s: float = 10.0,
    ) -> None:
        """``spill_dir``: where a stop during an outage leaves the buffered events and where
        waiting ones are applied from (default: ``settings.KBTC["DATA_DIR"]``)."""
        if buffer_bound < 1 or batch_size < 1:
            raise ValueError("buffer_bound and batch_size must be positive")
        self.buffer_bound = buffer_bound
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_max_s = retry_max_s
        self.label = label
        self.spill_dir = Path(spill_dir) if spill_dir is not None else None
        self.close_timeout_s = close_timeout_s
        self.spilled = 0  # events written to a spill file at close
        self.spill_path: Path | None = None
        self._spills_applied = False
        self._spill_token = spill.new_token()
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
        self._newest_ts = 0  # event time of the newest event handed to record()
        self._drop_episode: tuple[int, int] | None = None  # (first seq, dropped at start)
        self._drop_logged_at = 0.0
        self._store = db_call(self._store_sync)
        self._close_session = db_call(store.session_close)

    # --- the hot path ------------------------------------------------------------------------

    def record(self, event: Event) -> None:
        """Queue one event for storage. Never blocks, never touches the database."""
        self.emitted += 1
        self._newest_ts = event.ts
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

    @property
    def lag_s(self) -> float:
        """How far behind the journal is, in market (event) time: the newest event handed
        over against the oldest still waiting; 0 with nothing waiting."""
        if self._prepared and self._prepared[0].source:
            oldest = self._prepared[0].source[0][1].ts
        elif self._pending:
            oldest = self._pending[0][1].ts
        else:
            return 0.0
        return max(0, self._newest_ts - oldest) / 1000

    def health(self) -> dict[str, Any]:
        """Plain JSON for the health topic: queue depth, lag and drops (``dropping``: the
        buffer is full now and events are being lost)."""
        return {
            "recorded": self.recorded,
            "dropped": self.dropped,
            "dropping": self._drop_episode is not None and self.buffered >= self.buffer_bound,
            "buffered": self.buffered,
            "buffer_bound": self.buffer_bound,
            "lag_s": round(self.lag_s, 1),
            "flush_errors": self.flush_errors,
        }

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
        """Apply waiting spills, drain batches until ``stop`` is set, then flush what is left
        (``close``). A spill file that cannot be read raises ``kbtc_core.spillfiles.SpillError``."""
        failures = 0
        while not self._spills_applied and not stop.is_set():
            try:
                await self.apply_spills()
            except _DB_ERRORS:
                failures += 1
                await asyncio.sleep(min(self.retry_max_s, 0.05 * 2**failures))
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
        await self.close(timeout_s=self.close_timeout_s)

    async def apply_spills(self) -> None:
        """Store the events earlier recorders spilled (once; also done before the first
        store). Raises ``kbtc_core.spillfiles.SpillError`` for an unreadable file, a
        database error if away."""
        await db_call(self._apply_spills_sync)()

    def spill_directory(self) -> Path:
        if self.spill_dir is None:
            self.spill_dir = Path(settings.KBTC["DATA_DIR"])
        return self.spill_dir

    def _apply_spills_sync(self) -> None:
        if not self._spills_applied:
            spill.spill_apply(self.spill_directory())
            self._spills_applied = True

    async def flush(self) -> None:
        """Store everything buffered now (raises on a database error; the events stay)."""
        while self.buffered:
            await self._flush_one()

    async def close(self, *, timeout_s: float = 10.0) -> None:
        """Flush what is buffered, retrying for up to ``timeout_s``; what still cannot be
        stored is spilled to a file for the next start, or, if that fails too, counted as
        dropped and logged."""
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
            if not self._spill():
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

    def _spill(self) -> bool:
        """Write the buffered events (oldest first) to a new spill file; False if it failed."""
        events = [item for batch in self._prepared for item in batch.source]
        events += self._pending
        try:
            lines = spill.spill_lines(
                events,
                db=database_identity(),
                session_id=self.session_id,
                token=self._spill_token,
                label=self.label,
                dropped=self.dropped,
                ended_ms=int(time.time() * 1000),
            )
            path = spill.spill_save(lines, self.spill_directory())
        except (OSError, TypeError, ValueError, KeyError) as exc:
            log.error("recorder_spill_failed", error=f"{type(exc).__name__}: {exc}")
            return False
        self.spilled += len(events)
        self.spill_path = path
        log.warning(
            "recorder_spilled_on_close", path=str(path), spilled=len(events), **self._counters()
        )
        return True

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
        self._apply_spills_sync()  # earlier recorders' events first
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
