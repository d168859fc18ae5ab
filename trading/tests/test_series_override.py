"""A ``series_ticker`` override is stored only when the exchange lists that series (issue #15,
item 4): asked of the simulator's Kalshi REST over a socket, the same from the API and the
admin. Each test is async so that the simulator on the test's loop answers while the
service, a sync Django call, runs in a worker thread."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from knox.models import AuthToken
from rest_framework.test import APIClient

from marketdata.sim.testing import SimHandle, sim_exchange
from trading.models import ControlAudit, ParamOverride
from trading.services import controls
from trading.tests import factories

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["sim_exchange"]  # the fixture, imported for these tests

ACTOR = controls.Actor(label="operator", source="api")


def _exchange(sim: SimHandle) -> override_settings:
    from django.conf import settings

    return override_settings(KBTC={**settings.KBTC, "KALSHI_API_URL": sim.kalshi_api_url})


def _set(name: str, value: object) -> None:
    controls.override_set(name=name, value=value, actor=ACTOR)


async def test_a_series_the_exchange_lists_is_stored(sim_exchange: SimHandle) -> None:
    with _exchange(sim_exchange):
        await sync_to_async(_set)("series_ticker", "KXBTC15M")
    stored = await sync_to_async(lambda: dict(ParamOverride.objects.values_list("name", "value")))()
    assert stored == {"series_ticker": "KXBTC15M"}


async def test_a_series_the_exchange_does_not_list_is_refused_and_audited(
    sim_exchange: SimHandle,
) -> None:
    with (
        _exchange(sim_exchange),
        pytest.raises(controls.OverrideInvalid, match="does not list the series KXETH15M"),
    ):
        await sync_to_async(_set)("series_ticker", "KXETH15M")
    assert not await sync_to_async(ParamOverride.objects.exists)()
    audit = await sync_to_async(ControlAudit.objects.get)()
    assert (audit.applied, audit.before) == (False, {"name": "series_ticker", "value": "KXETH15M"})


async def test_a_series_is_refused_when_the_exchange_cannot_be_asked() -> None:
    from django.conf import settings

    closed = override_settings(
        KBTC={**settings.KBTC, "KALSHI_API_URL": "http://127.0.0.1:9/trade-api/v2"}
    )
    with closed, pytest.raises(controls.OverrideInvalid, match="could not confirm"):
        await sync_to_async(_set)("series_ticker", "KXBTC15M")
    assert not await sync_to_async(ParamOverride.objects.exists)()


@pytest.mark.parametrize("value", ["kxbtc15m", "KX/../markets", "KX BTC", "KX\u0000"])
async def test_a_value_that_is_not_a_series_ticker_is_refused_without_asking(value) -> None:
    with pytest.raises(controls.OverrideInvalid, match="is not a series ticker"):
        await sync_to_async(_set)("series_ticker", value)


async def test_the_api_refuses_an_unlisted_series_with_a_400(sim_exchange: SimHandle) -> None:
    def post() -> tuple[int, str]:
        _, token = AuthToken.objects.create(factories.operator())
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.post(
            "/api/param-overrides/", {"name": "series_ticker", "value": "NOPE"}, format="json"
        )
        return response.status_code, response.json()["detail"]

    with _exchange(sim_exchange):
        status, detail = await sync_to_async(post)()
    assert status == 400
    assert "does not list the series NOPE" in detail


async def test_the_admin_refuses_an_unlisted_series_the_same_way(sim_exchange: SimHandle) -> None:
    def post() -> str:
        from django.test import Client

        user = factories.operator()
        user.is_superuser = True
        user.save()
        client = Client()
        client.force_login(user)
        response = client.post(
            "/admin/trading/paramoverride/add/",
            {"name": "series_ticker", "value": '"NOPE"', "note": ""},
        )
        assert response.status_code == 200
        return response.content.decode()

    with _exchange(sim_exchange):
        page = await sync_to_async(post)()
    assert "does not list the series NOPE" in page
    assert not await sync_to_async(ParamOverride.objects.exists)()
    audit = await sync_to_async(ControlAudit.objects.get)()
    assert (audit.applied, audit.source) == (False, "admin")
