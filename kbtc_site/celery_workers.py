"""Real Celery worker processes for tests and benchmarks: started with this interpreter on
the configured Redis, answering a ping before they are handed over, stopped (terminate,
then kill after 20 s) whatever happened.

The workers read the database the caller names (``database_url``: the test database, so
they write the committed rows the test reads) and run one task at a time (``--pool=solo``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kbtc_site.celery import app

Worker = subprocess.Popen[bytes]


class WorkersDidNotStart(RuntimeError):
    pass


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """The ``DATABASE_URL`` of a Django connection's settings (PostgreSQL, trust auth)."""
    d = settings_dict
    return f"postgres://{d['USER']}@{d['HOST']}:{d['PORT']}/{d['NAME']}"


def start_worker(
    name: str,
    *,
    env: Mapping[str, str] | None = None,
    queue: str | None = None,
    loglevel: str = "WARNING",
) -> Worker:
    """One worker process named ``name@host``; ``queue`` limits it to that queue."""
    args = [sys.executable, "-m", "celery", "-A", "kbtc_site", "worker", "--pool=solo",
            "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
            f"--loglevel={loglevel}"]  # fmt: skip
    if queue is not None:
        args += ["-Q", queue]
    return subprocess.Popen(
        args,
        env=dict(os.environ if env is None else env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def await_workers(workers: list[Worker], timeout_s: float) -> None:
    """Return once every worker answers a ping; raise if one exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while len(app.control.ping(timeout=0.5) or []) < len(workers):
        if any(w.poll() is not None for w in workers):
            raise WorkersDidNotStart("a Celery worker exited at start")
        if time.monotonic() > deadline:
            raise WorkersDidNotStart(f"the Celery workers did not answer in {timeout_s:.0f} s")


def stop_workers(workers: list[Worker]) -> None:
    for w in workers:
        if w.poll() is None:
            w.terminate()
    for w in workers:
        try:
            w.wait(timeout=20)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()


@contextmanager
def celery_workers(
    count: int,
    *,
    prefix: str = "worker",
    env: Mapping[str, str] | None = None,
    queue: str | None = None,
    loglevel: str = "WARNING",
    timeout_s: float = 90,
    purge: bool = True,
) -> Iterator[list[Worker]]:
    """``count`` workers, ready, stopped on the way out. ``purge`` first drops the tasks
    waiting in the broker's default queue (an earlier test run may have left some in this
    Redis database): for tests, never on a Redis a real deployment uses."""
    if purge:
        app.control.purge()
    workers = [
        start_worker(f"{prefix}{i}", env=env, queue=queue, loglevel=loglevel) for i in range(count)
    ]
    try:
        await_workers(workers, timeout_s)
        yield workers
    finally:
        stop_workers(workers)
