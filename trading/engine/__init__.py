"""The KBTC decision engine: pure, deterministic, fed by events, returning intents and records.

No Django, no I/O, no wall clock: time is the latest event's ``ts``. Entry point:
``trading.engine.engine.Engine`` (its docstring describes the fill feedback protocol).

The rule → test checklist (every rule of domain.md §3.3–§3.14 except §3.10, and the
§11.1 regressions) and the module map are in ``docs/engine.md``.
"""
