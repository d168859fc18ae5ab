"""Lane-parameter overrides reach only their lane of the running daemon within a second;
global ones every lane (interfaces.md §5).

The daemon runs two lanes (paper and live, both on the paper venue here) on the stepped
simulator; overrides go through the REST API as an operator (services underneath: one
durable transaction, an audit row each, an announcement on commit), and ``SteppedDaemon.
control`` advances the clock one simulated second past the daemon's next control read.
"""

from __future__ import annotations

from functools import partial

import pytest
from asgiref.sync import sync_to_async

from trading.engine.params import DEFAULT_PARAMS
from trading.engine.records import Decision
from trading.models import BotState, ControlAudit

from . import test_controls_daemon
from .conftest import SEED, SteppedDaemon
from .reference_run import elapsed_s, entries, uninterrupted_run
from .test_controls_daemon import within_a_second

api = test_controls_daemon.api  # the operator's API client (a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# never a market this far from its close: the lane that gets it enters nothing
NO_ENTRIES = {"name": "min_seconds_to_expiry", "value": 3600}


async def test_a_lane_override_changes_only_that_lanes_decisions_and_a_global_one_all(api):
    expected = [elapsed_s(e.ts) for e in entries(uninterrupted_run())][:2]
    assert len(expected) == 2
    assert expected[0] > 3, f"seed {SEED}: an entry in the first seconds"
    async with SteppedDaemon(lanes=("paper", "live")) as sim:
        await sim.step_to(2)
        # A lane exists for an override once the trader has saved its state (every five
        # minutes of event time, at closes and at stops): save it now, as a stop does.
        sim.daemon.persistence.save_state(sim.now)
        await sim.settle()
        assert await sync_to_async(BotState.objects.filter(lane="live").exists)()
        paper, live = sim.engine.lanes["paper"], sim.engine.lanes["live"]

        at, mark = sim.now, len(sim.outputs)
        response = await sim.control(
            lambda: api("post", "/api/param-overrides/", {**NO_ENTRIES, "lane": "live"})
        )
        assert response.status_code == 200, response.content
        assert "lane live; applies within a second" in response.json()["message"]
        assert within_a_second(at, sim.now)
        assert live.params.min_seconds_to_expiry == 3600
        assert paper.params == DEFAULT_PARAMS  # untouched

        await sim.step_to(expected[-1] + 5)
        # the paper lane trades as a lone paper lane does; the live lane enters nothing
        opened = entries(sim.outputs[mark:])
        assert [(e.lane, elapsed_s(e.ts)) for e in opened] == [("paper", s) for s in expected]
        decided = {(d.lane, d.params_hash) for d in sim.outputs[mark:] if isinstance(d, Decision)}
        assert decided == {("paper", DEFAULT_PARAMS.params_hash()), ("live", live.params_hash)}

        # a global override: every lane, the live lane keeping its own
        response = await sim.control(
            lambda: api("post", "/api/param-overrides/", {"name": "min_hold_s", "value": 90})
        )
        assert response.status_code == 200
        assert paper.params.min_hold_s == live.params.min_hold_s == 90
        assert live.params.min_seconds_to_expiry == 3600
        assert paper.params.min_seconds_to_expiry == DEFAULT_PARAMS.min_seconds_to_expiry

        # refused (400, audited): a lane the trader does not run, a market parameter per lane
        for body in (
            {**NO_ENTRIES, "lane": "ghost"},
            {"name": "obi_history_len", "value": 5, "lane": "paper"},
        ):
            refused = await sim.control(partial(api, "post", "/api/param-overrides/", body))
            assert refused.status_code == 400
        assert live.params.min_seconds_to_expiry == 3600
        assert paper.params.obi_history_len == DEFAULT_PARAMS.obi_history_len

        # clearing the lane's own: the live lane decides on the global set again
        response = await sim.control(
            lambda: api("delete", "/api/param-overrides/min_seconds_to_expiry/?lane=live")
        )
        assert response.status_code == 200
        assert live.params == paper.params == DEFAULT_PARAMS.with_overrides({"min_hold_s": 90})

        audits = await sync_to_async(
            lambda: list(ControlAudit.objects.order_by("id").values_list("action", "applied"))
        )()
        assert audits == [
            ("override_set", True),
            ("override_set", True),
            ("override_set", False),
            ("override_set", False),
            ("override_clear", True),
        ]
