"""Every input that once answered 500 (issue #15, item 5) now gets a clear 4xx, JSON on the
API, and a refused control is audited even when its value cannot be stored as sent.

These run on PostgreSQL in the server profile (where NUL and NaN broke the writes) and on
SQLite in the embedded one: the answers must be the same on both.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from kbtc_core.input_bounds import MAX_JSON_DEPTH, max_body_bytes
from trading.models import ControlAudit, ParamOverride, TradingControls
from trading.services.controls import MAX_TRADE_LIMIT
from trading.tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer() -> APIClient:
    _, token = AuthToken.objects.create(factories.operator())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _post_raw(client: APIClient, url: str, text: str) -> Any:
    return client.generic("POST", url, text, content_type="application/json")


def _nested(levels: int) -> str:
    return '{"name": "min_hold_s", "value": ' + "[" * levels + "1" + "]" * levels + "}"


# --- the API -------------------------------------------------------------------------------


def test_an_override_value_containing_nul_is_refused_and_audited(bearer):
    response = bearer.post(
        "/api/param-overrides/", {"name": "min_hold_s", "value": "9\u00000"}, format="json"
    )
    assert response.status_code == 400
    assert "min_hold_s" in response.json()["detail"]
    assert not ParamOverride.objects.exists()
    audit = ControlAudit.objects.get()
    assert (audit.action, audit.applied) == ("override_set", False)
    assert audit.before == {"name": "min_hold_s", "value": "9\\u00000"}


def test_a_series_override_containing_nul_is_refused_and_audited(bearer):
    response = bearer.post(
        "/api/param-overrides/", {"name": "series_ticker", "value": "KX\u0000"}, format="json"
    )
    assert response.status_code == 400
    assert not ParamOverride.objects.exists()
    assert ControlAudit.objects.get(applied=False).before["value"] == "KX\\u0000"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_an_api_body_are_a_json_400(bearer, constant):
    body = '{"name": "stop_loss_frac", "value": ' + constant + "}"
    response = _post_raw(bearer, "/api/param-overrides/", body)
    assert response.status_code == 400
    assert constant.lstrip("-") in response.json()["detail"]
    assert not ParamOverride.objects.exists()


def test_json_nested_thousands_of_levels_is_a_json_400(bearer):
    response = _post_raw(bearer, "/api/param-overrides/", _nested(5000))
    assert response.status_code == 400
    assert f"deeper than {MAX_JSON_DEPTH}" in response.json()["detail"]


def test_json_nested_within_the_bound_reaches_the_parameters_check(bearer):
    response = _post_raw(bearer, "/api/param-overrides/", _nested(MAX_JSON_DEPTH - 1))
    assert response.status_code == 400
    assert "min_hold_s: must be int" in response.json()["detail"]


def test_nesting_inside_a_string_does_not_count_as_depth(bearer):
    body = json.dumps({"name": "min_hold_s", "value": 90, "note": "[" * 150})
    assert _post_raw(bearer, "/api/param-overrides/", body).status_code == 200


def test_malformed_json_is_a_json_400(bearer):
    response = _post_raw(bearer, "/api/param-overrides/", '{"name": ')
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_form_encoded_body_is_a_json_415(bearer):
    response = bearer.post("/api/trading-pause", {"paused": "true"})
    assert response.status_code == 415
    assert "detail" in response.json()


def test_a_body_over_the_bound_is_a_json_413_before_anything_reads_it(bearer):
    body = '{"name": "min_hold_s", "value": 90, "note": "' + "x" * (max_body_bytes() + 1) + '"}'
    response = _post_raw(bearer, "/api/param-overrides/", body)
    assert response.status_code == 413
    assert str(max_body_bytes()) in response.json()["detail"]
    assert not ParamOverride.objects.exists()


@pytest.mark.parametrize("limit", [1_000_000_000_000, MAX_TRADE_LIMIT + 1, -5])
def test_a_trade_limit_out_of_bounds_is_a_400_audited_and_changes_nothing(bearer, limit):
    response = bearer.post("/api/trade-limit", {"limit": limit}, format="json")
    assert response.status_code == 400
    assert str(MAX_TRADE_LIMIT) in response.json()["detail"]
    assert not TradingControls.objects.filter(version__gt=0).exists()
    audit = ControlAudit.objects.get()
    assert (audit.action, audit.applied) == ("trade_limit_set", False)
    assert audit.before == {"limit": limit}


def test_the_largest_trade_limit_is_stored(bearer):
    response = bearer.post("/api/trade-limit", {"limit": MAX_TRADE_LIMIT}, format="json")
    assert response.status_code == 200
    assert response.json()["live_trade_limit"] == MAX_TRADE_LIMIT


def test_deleting_an_override_named_nul_is_a_json_400(bearer):
    response = bearer.delete("/api/param-overrides/%00/")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


def test_deleting_an_override_that_does_not_exist_is_a_json_404(bearer):
    response = bearer.delete("/api/param-overrides/min_hold_s/")
    assert response.status_code == 404
    assert "min_hold_s" in response.json()["detail"]


def test_an_unknown_api_path_is_a_json_404():
    response = APIClient().get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "no such API path: /api/no-such-thing/"}


def test_a_nul_in_a_query_is_a_json_400():
    response = APIClient().get("/api/trades/?exit_reason=%00")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


def test_an_unknown_trading_mode_from_the_dashboard_is_refused_and_audited(admin_client):
    response = admin_client.post(reverse("control-mode"), {"mode": "\u0000"})
    assert response.status_code == 200  # the sidebar again, with the reason
    assert "unknown trading mode" in response.content.decode()
    assert TradingControls.objects.filter(version__gt=0).count() == 0
    audit = ControlAudit.objects.get()
    assert (audit.action, audit.applied, audit.source) == ("trading_mode_set", False, "dashboard")
    assert audit.before == {"mode": "\\u0000"}


# --- the admin -----------------------------------------------------------------------------

ADD_OVERRIDE = "/admin/trading/paramoverride/add/"
CONTROLS_CHANGE = "/admin/trading/tradingcontrols/1/change/"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_the_admin_override_form_are_a_form_error(admin_client, constant):
    response = admin_client.post(
        ADD_OVERRIDE, {"name": "stop_loss_frac", "value": constant, "note": ""}
    )
    assert response.status_code == 200
    assert "not a JSON number" in response.content.decode()
    assert not ParamOverride.objects.exists()


def test_json_nested_thousands_of_levels_in_the_admin_is_a_form_error(admin_client):
    value = "[" * 5000 + "1" + "]" * 5000
    response = admin_client.post(ADD_OVERRIDE, {"name": "min_hold_s", "value": value, "note": ""})
    assert response.status_code == 200
    assert f"deeper than {MAX_JSON_DEPTH}" in response.content.decode()
    assert not ParamOverride.objects.exists()


def test_an_admin_override_value_containing_nul_is_refused_and_audited(admin_client):
    response = admin_client.post(
        ADD_OVERRIDE, {"name": "min_hold_s", "value": '"9\\u00000"', "note": ""}
    )
    assert response.status_code == 200
    assert "min_hold_s" in response.content.decode()
    assert not ParamOverride.objects.exists()
    assert ControlAudit.objects.get(applied=False).before["value"] == "9\\u00000"


def test_a_body_over_the_bound_to_the_admin_is_a_413(admin_client):
    response = admin_client.post(
        ADD_OVERRIDE, {"name": "min_hold_s", "value": "90", "note": "x" * (max_body_bytes() + 1)}
    )
    assert response.status_code == 413
    assert not ParamOverride.objects.exists()


@pytest.mark.parametrize("limit", ["-5", "1000000000000", str(MAX_TRADE_LIMIT + 1)])
def test_an_admin_trade_limit_out_of_bounds_is_a_form_error_and_audited(admin_client, limit):
    TradingControls.objects.get_or_create(pk=1)
    response = admin_client.post(
        CONTROLS_CHANGE, {"trading_mode": "paper", "live_trade_limit": limit}
    )
    assert response.status_code == 200  # the form again, with the reason
    assert str(MAX_TRADE_LIMIT) in response.content.decode()
    assert TradingControls.objects.get().live_trade_limit is None
    audit = ControlAudit.objects.get()
    assert (audit.action, audit.applied, audit.source) == ("trade_limit_set", False, "admin")
    assert audit.before == {"limit": int(limit)}


def test_a_nul_in_an_admin_search_is_a_400(admin_client):
    response = admin_client.get("/admin/trading/trade/?q=%00")
    assert response.status_code == 400
