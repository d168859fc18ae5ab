from __future__ import annotations

import pytest

from trading.models import ControlAudit, ParamOverride, TradingControls
from trading.tests import factories

pytestmark = pytest.mark.django_db

MODELS = (
    "trade",
    "openposition",
    "bankrollsnapshot",
    "decision",
    "controlaudit",
    "botstate",
    "paramoverride",
    "tradingcontrols",
    "traderheartbeat",
)


@pytest.mark.parametrize("model", MODELS)
def test_every_control_room_page_renders(admin_client, model):
    factories.trade()
    factories.lane_state()
    assert admin_client.get(f"/admin/trading/{model}/").status_code == 200


def test_admin_actions_call_the_audited_services(admin_client):
    TradingControls.objects.get_or_create(pk=1)
    url = "/admin/trading/tradingcontrols/"
    for action in ("pause", "emergency_stop", "switch_to_live", "close_all_exchange_positions"):
        response = admin_client.post(url, {"action": action, "_selected_action": [1]}, follow=True)
        assert response.status_code == 200
    actions = list(ControlAudit.objects.order_by("id").values_list("action", "applied", "source"))
    assert actions == [
        ("trading_pause_set", True, "admin"),
        ("emergency_stop", True, "admin"),
        ("trading_mode_set", False, "admin"),
        ("close_all_exchange_positions", False, "admin"),
    ]


def test_admin_refuses_an_override_outside_its_bounds(admin_client):
    response = admin_client.post(
        "/admin/trading/paramoverride/add/", {"name": "min_hold_s", "value": "99999", "note": ""}
    )
    assert response.status_code == 200
    assert "between 0 and 3600" in response.content.decode()
    assert not ParamOverride.objects.exists()
    refused = ControlAudit.objects.get()  # who tried what, and why it was refused
    assert (refused.action, refused.applied, refused.source) == ("override_set", False, "admin")
    assert refused.before == {"name": "min_hold_s", "value": 99999}
    assert "between 0 and 3600" in refused.message
    admin_client.post(
        "/admin/trading/paramoverride/add/", {"name": "min_hold_s", "value": "90", "note": ""}
    )
    assert ParamOverride.objects.get().value == 90
    applied = ControlAudit.objects.exclude(pk=refused.pk).get()
    assert (applied.action, applied.applied) == ("override_set", True)


def test_admin_refuses_an_edit_of_an_override_to_a_value_outside_its_bounds(admin_client):
    admin_client.post(
        "/admin/trading/paramoverride/add/", {"name": "min_hold_s", "value": "90", "note": ""}
    )
    override = ParamOverride.objects.get()
    response = admin_client.post(
        f"/admin/trading/paramoverride/{override.pk}/change/", {"value": "99999", "note": ""}
    )
    assert response.status_code == 200  # the form again, with the reason; not a server error
    assert "min_hold_s" in response.content.decode()
    assert "between 0 and 3600" in response.content.decode()
    assert ParamOverride.objects.get().value == 90
    assert ControlAudit.objects.filter(applied=False).count() == 1


def test_admin_edits_of_the_controls_become_audited_services(admin_client):
    TradingControls.objects.get_or_create(pk=1)
    response = admin_client.post(
        "/admin/trading/tradingcontrols/1/change/",
        {"trading_mode": "paper", "paused": "on", "live_trade_limit": "5"},
    )
    assert response.status_code == 302
    controls = TradingControls.objects.get()
    assert controls.paused
    assert controls.live_trade_limit == 5
    assert set(ControlAudit.objects.values_list("action", flat=True)) == {
        "trading_pause_set",
        "trade_limit_set",
    }


def test_deleting_an_override_in_admin_clears_it_through_the_service(admin_client):
    admin_client.post(
        "/admin/trading/paramoverride/add/", {"name": "min_hold_s", "value": "90", "note": ""}
    )
    override = ParamOverride.objects.get()
    admin_client.post(f"/admin/trading/paramoverride/{override.pk}/delete/", {"post": "yes"})
    assert not ParamOverride.objects.exists()
    assert ControlAudit.objects.filter(action="override_clear").count() == 1


def test_a_refused_admin_edit_shows_only_the_refusal(admin_client):
    TradingControls.objects.get_or_create(pk=1)
    response = admin_client.post(
        "/admin/trading/tradingcontrols/1/change/",
        {"trading_mode": "live", "paused": "", "live_trade_limit": ""},
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1
    assert shown[0].startswith("Trading mode refused: the live lane does not exist yet")
    assert TradingControls.objects.get().trading_mode == "paper"
    assert ControlAudit.objects.get().applied is False


def test_an_admin_edit_that_applies_says_so(admin_client):
    TradingControls.objects.get_or_create(pk=1)
    response = admin_client.post(
        "/admin/trading/tradingcontrols/1/change/",
        {"trading_mode": "paper", "paused": "on", "live_trade_limit": ""},
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert "Pause: done (audited)." in shown
    assert any("changed successfully" in m for m in shown)
