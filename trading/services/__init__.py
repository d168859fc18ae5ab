"""Writes of trading state (HackSoft style: keyword-only ``<entity>_<action>`` functions).

- ``trades``: what the daemon records — positions, closed trades, bankroll snapshots, the
  signal log and each lane's restorable state.
- ``controls``: what an operator does — controls, parameter overrides, their audit trail.
- ``heartbeat``: the trader process's liveness row.

Import from the module that owns the write; this package re-exports nothing.
"""
