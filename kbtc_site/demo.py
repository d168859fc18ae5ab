"""Background jobs the embedded demo runs inside the web server's event loop.

Each entry is a zero-argument coroutine function that runs until the process stops.
The exchange simulator and the paper trader register here when they exist.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

BACKGROUND_JOBS: list[Callable[[], Coroutine[Any, Any, None]]] = []
