"""The persistence writer: a bounded, batched queue drained on the ORM thread.

The hot path only appends (``put``); ``run`` drains batches in one transaction each, so
the engine never waits on the database (django-notes.md §2.10). Trade and position
writes (``critical``) are never dropped: they wait through a database outage and are
retried in order; what is still queued when the daemon stops goes to a spill file
(``trading.runtime.spill``). Everything else (decision samples, equity points) is bounded: when the
queue holds ``bound`` of them, new ones are dropped and counted (domain.md §3.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError, InterfaceError, OperationalError, transaction

from kbtc_core.db import db_call

log = structlog.get_logger(__name__)

_OUTAGE = (OperationalError, InterfaceError)


@dataclass(frozen=True, slots=True)
class Write:
    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    critical: bool = False
    # Called on the event loop with the function's result once committed (publishing).
    after: Callable[[Any], None] | None = None


class PersistWriter:
    def __init__(self, *, bound: int = 10_000, batch_size: int = 500, interval_s: float = 0.2):
        self.bound = bound
        self.batch_size = batch_size
        self.interval_s = interval_s
        self._queue: deque[Write] = deque()
        self._optional = 0  # non-critical writes in the queue
        self._wakeup = asyncio.Event()
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.outage_retries = 0  # failed batch attempts over the run
        self.outage_error = ""  # the current outage's error; "" once a batch commits again
        self._behind_since: float | None = None  # monotonic s the queue last stopped being empty

    def put(self, write: Write) -> None:
        if not write.critical:
            if self._optional >= self.bound:
                self.dropped += 1
                if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                    log.warning("persist_queue_full_dropping", dropped=self.dropped)
                return
            self._optional += 1
        if not self._queue:
            self._behind_since = time.monotonic()
        self._queue.append(write)
        if write.critical or len(self._queue) >= self.batch_size:
            self._wakeup.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def lag_s(self) -> float:
        """Seconds since the queue was last empty (0 when it is): an upper bound on how long
        the oldest waiting write has waited."""
        if not self._queue or self._behind_since is None:
            return 0.0
        return time.monotonic() - self._behind_since

    def unwritten(self) -> dict[str, int]:
        """What is still queued, by write (``position_close``: 1, ...), for the stop log."""
        counts: dict[str, int] = {}
        for write in self._queue:
            name = getattr(write.fn, "__name__", str(write.fn))
            counts[name] = counts.get(name, 0) + 1
        return counts

    def take_unwritten(self) -> list[Write]:
        """Empty the queue and return what was in it, in order (the stop spills it)."""
        writes = list(self._queue)
        self._queue.clear()
        self._optional = 0
        return writes

    def state(self) -> str:
        """For the health panel: "ok", or the outage now being retried and what waits on it
        (a past, recovered outage is not reported as a current one)."""
        # Writes the database refused on their own (a bug, not an outage) were skipped and
        # logged as persist_write_failed; the panel keeps saying so.
        failed = f" ({self.failed} writes failed: persist_write_failed)" if self.failed else ""
        if self.dropped:  # decision samples, equity points: bounded, dropped when full
            failed += f" ({self.dropped} optional writes dropped: persist_queue_full_dropping)"
        if not self.outage_error:
            return f"ok{failed}"
        return f"retrying ({self.pending} writes waiting): {self.outage_error}{failed}"[:240]

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.interval_s)
            await self.flush(give_up_after_s=None, until=stop)

    async def flush(
        self, *, give_up_after_s: float | None = 10.0, until: asyncio.Event | None = None
    ) -> None:
        """Write everything queued. An outage is retried (forever, or for the given time),
        and no longer once ``until`` is set: the stop's own flush takes over from there, so
        a stop during an outage ends instead of retrying forever."""
        loop = asyncio.get_running_loop()
        deadline = None if give_up_after_s is None else loop.time() + give_up_after_s
        failures = 0
        while self._queue:
            batch = [self._queue[i] for i in range(min(self.batch_size, len(self._queue)))]
            try:
                results = await _write_batch(batch)
            except _OUTAGE as exc:
                failures += 1
                self.outage_retries += 1
                self.outage_error = f"{type(exc).__name__}: {str(exc).strip()}"
                log.error("persist_outage", error=str(exc).strip(), pending=len(self._queue))
                if deadline is not None and loop.time() > deadline:
                    log.error("persist_gave_up", pending=len(self._queue))
                    return
                if until is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(until.wait(), min(2.0, 0.05 * 2**failures))
                    if until.is_set():
                        return
                else:
                    await asyncio.sleep(min(2.0, 0.05 * 2**failures))
                continue
            if self.outage_error:
                log.info("persist_recovered", retries=self.outage_retries, pending=len(batch))
            failures = 0
            self.outage_error = ""
            for _ in batch:
                write = self._queue.popleft()
                if not write.critical:
                    self._optional -= 1
            for write, (ok, result) in zip(batch, results, strict=True):
                if ok:
                    self.written += 1
                    if write.after is not None:
                        write.after(result)
                else:
                    self.failed += 1


@db_call
def _write_batch(batch: list[Write]) -> list[tuple[bool, Any]]:
    """One transaction for the batch; a write that fails on its own (a bug, not an outage)
    is logged and skipped so it cannot block the ones behind it."""
    results: list[tuple[bool, Any]] = []
    with transaction.atomic():
        for write in batch:
            try:
                with transaction.atomic():
                    results.append((True, write.fn(**write.kwargs)))
            except _OUTAGE:
                raise
            except (DatabaseError, ObjectDoesNotExist, ValueError, LookupError, TypeError) as exc:
                log.error(
                    "persist_write_failed",
                    write=getattr(write.fn, "__name__", str(write.fn)),
                    critical=write.critical,
                    error=f"{type(exc).__name__}: {exc}",
                )
                results.append((False, None))
    return results
