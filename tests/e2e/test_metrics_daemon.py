"""``/metrics`` moves while the daemon trades on the stepped simulator: the web side reads
the trader's published self-report (Redis) and the database, as it does in production."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from trading import push

from .conftest import SteppedDaemon

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape() -> Samples:
    response = Client().get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def total(samples: Samples, name: str) -> float:
    return sum(value for (sample, _), value in samples.items() if sample == name)


async def scrape_when(condition: Callable[[Samples], bool], what: str) -> Samples:
    """Scrape until ``condition(samples)`` (the report is published once a wall second)."""
    samples: Samples = {}
    for _ in range(100):
        samples = await sync_to_async(scrape)()
        if condition(samples):
            return samples
        await asyncio.sleep(0.1)
    raise AssertionError(f"/metrics never showed {what}: {samples}")


async def test_the_trader_figures_are_present_and_move_during_a_simulator_run() -> None:
    await sync_to_async(push.forget_latest_payloads)()
    async with SteppedDaemon() as sim:
        await sim.step(600)
        first = await scrape_when(
            lambda s: total(s, "kbtc_decisions_total") > 0 and ("kbtc_events_per_second", ()) in s,
            "the first decisions and an events rate",
        )
        assert ("kbtc_queue_depth", (("queue", "writer"),)) in first
        assert ("kbtc_writer_lag_seconds", ()) in first
        assert first[("kbtc_trader_store_ok", (("store", "db"),))] == 1

        def counted(key: str) -> int:
            return sum(sim.daemon.health_payload()[key].values())

        while not counted("orders") and sim.elapsed_s < 4 * 3600:
            await sim.step(60)
        assert counted("orders"), "no order in 4 simulated hours"
        await sim.step(600)  # flat again for a while: its decisions move on
        await sim.settle()
        later = await scrape_when(
            lambda s: total(s, "kbtc_orders_total") == counted("orders"),
            "the orders the daemon sent",
        )
    assert total(later, "kbtc_decisions_total") > total(first, "kbtc_decisions_total")
    assert total(later, "kbtc_fills_total") == counted("fills") > 0
    assert later[("kbtc_bankroll_dollars", (("lane", "paper"),))] > 0
    await sync_to_async(push.forget_latest_payloads)()
