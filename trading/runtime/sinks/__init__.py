"""Record sinks: everything the daemon does with the session's outputs (interfaces.md §11).

The driver returns, for every event, what the engine decided and what the venues did
(records, intents, venue reports). Each sink consumes the ones it cares about, on the hot
path, without waiting on anything: it queues its side effect (a row, a push, a post) and
does the slow part in its own background task. The daemon only wires them.

To add one: subclass ``Sink``, pick records by type in ``consume``, put anything slow in
``run`` (it gets the daemon's stop event) and ``close`` (after the feeds stopped), report
troubles in ``health``; then pass it to ``build_daemon(sinks=...)``.
"""

from trading.runtime.sinks.base import Observer, Sink

__all__ = ["Observer", "Sink"]
