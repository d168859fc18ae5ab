"""The one way async code reaches the ORM (django-notes.md §2.10)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection

P = ParamSpec("P")
R = TypeVar("R")


def db_call(fn: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run a sync ORM unit of work from async code on the one ORM thread.

    Stale or broken connections are recycled first: outside a request cycle nothing else
    does it, and after a database outage the old connection is dead. Inside an atomic block
    (a test transaction) closing would break the transaction, so it is left alone.
    """

    @functools.wraps(fn)
    def inner(*args: P.args, **kwargs: P.kwargs) -> R:
        if not connection.in_atomic_block:
            close_old_connections()
        return fn(*args, **kwargs)

    return sync_to_async(inner, thread_sensitive=True)
