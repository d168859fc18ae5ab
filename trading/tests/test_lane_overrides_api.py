"""Lane-targeted overrides through the REST API (documented in its schema), the admin and
the dashboard's sidebar: which lane, and when each applies."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from knox.models import AuthToken
from rest_framework.test import APIClient

from trading.models import ControlAudit, ParamOverride
from trading.services import controls
from trading.tests import factories

pytestmark = pytest.mark.django_db

ROBOT = controls.Actor(label="tester", source="test")


@pytest.fixture
def bearer() -> APIClient:
    factories.lane_state("paper")
    factories.lane_state("live")
    _, token = AuthToken.objects.create(factories.operator())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_an_override_is_set_listed_and_cleared_for_one_lane(bearer):
    body = {"name": "min_hold_s", "value": 200, "lane": "live", "note": "tuned"}
    answer = bearer.post("/api/param-overrides", body, format="json").json()
    assert answer["success"] is True
    assert answer["message"] == "min_hold_s set for lane live; applies within a second"
    assert answer["lane_overrides"] == {"live": {"min_hold_s": 200}}
    assert answer["overrides"] == {}
    bearer.post("/api/param-overrides", {"name": "min_hold_s", "value": 90}, format="json")

    listed = bearer.get("/api/param-overrides?lane=live").json()
    assert (listed["lane"], listed["lanes"]) == ("live", ["live", "paper"])
    rows = {row["name"]: row for row in listed["parameters"]}
    assert (rows["min_hold_s"]["value"], rows["min_hold_s"]["origin"]) == (200, "lane")
    assert rows["min_hold_s"]["note"] == "tuned"
    assert rows["obi_history_len"]["applies"] == "at the next restart"
    globally = {row["name"]: row for row in bearer.get("/api/param-overrides").json()["parameters"]}
    assert (globally["min_hold_s"]["value"], globally["min_hold_s"]["origin"]) == (90, "global")
    stored = [(row["name"], row["lane"], row["value"]) for row in listed["stored"]]
    assert stored == [("min_hold_s", "", 90), ("min_hold_s", "live", 200)]

    assert bearer.delete("/api/param-overrides/min_hold_s?lane=paper").status_code == 404
    assert bearer.delete("/api/param-overrides/min_hold_s?lane=live").status_code == 200
    assert list(ParamOverride.objects.values_list("lane", flat=True)) == [""]
    bearer.post("/api/param-overrides", {**body, "value": 150}, format="json")
    cleared = bearer.delete("/api/param-overrides?lane=live").json()
    assert (cleared["cleared"], list(ParamOverride.objects.values_list("lane", flat=True))) == (
        1,
        [""],
    )
    assert "Lane live" in cleared["message"]


def test_a_market_parameter_set_globally_says_it_applies_at_the_next_restart(bearer):
    answer = bearer.post(
        "/api/param-overrides", {"name": "obi_history_len", "value": 5}, format="json"
    ).json()
    assert answer["message"] == "obi_history_len set for every lane; applies at the next restart"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"name": "min_hold_s", "value": 90, "lane": "ghost"}, "does not exist"),
        ({"name": "obi_history_len", "value": 5, "lane": "paper"}, "market parameter"),
        ({"name": "min_hold_s", "value": -1, "lane": "paper"}, "between 0 and 3600"),
    ],
)
def test_a_refused_lane_override_is_a_400_that_says_why_and_is_audited(bearer, body, reason):
    response = bearer.post("/api/param-overrides", body, format="json")
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert not ParamOverride.objects.exists()
    audit = ControlAudit.objects.get()
    assert (audit.action, audit.applied, audit.actor_label) == ("override_set", False, "operator")
    assert audit.before["lane"] == body["lane"]


def test_reading_or_clearing_a_lane_that_does_not_exist_is_a_400(bearer):
    for response in (
        bearer.get("/api/param-overrides?lane=ghost"),
        bearer.delete("/api/param-overrides?lane=ghost"),
        bearer.delete("/api/param-overrides/min_hold_s?lane=ghost"),
    ):
        assert response.status_code == 400
        assert "lane 'ghost' does not exist" in response.json()["error"]
    assert not ControlAudit.objects.filter(action="override_clear").exists()


def test_the_schema_documents_the_lane_of_an_override(admin_client):
    schema = admin_client.get("/api/schema/?format=json").json()
    overrides = schema["paths"]["/api/param-overrides"]
    for method in ("get", "delete"):
        assert "lane" in [parameter["name"] for parameter in overrides[method]["parameters"]]
    assert "lane" in schema["components"]["schemas"]["OverrideInputRequest"]["properties"]
    clear_one = schema["paths"]["/api/param-overrides/{name}"]["delete"]
    assert "lane" in [parameter["name"] for parameter in clear_one["parameters"]]


def test_the_admin_sets_edits_and_clears_a_lane_override_audited(admin_client):
    factories.lane_state("paper")
    url = "/admin/trading/paramoverride/"
    response = admin_client.post(
        f"{url}add/", {"name": "obi_history_len", "lane": "paper", "value": "5", "note": ""}
    )
    assert response.status_code == 200  # the form again, with the refusal
    assert "market parameter" in response.content.decode()
    refused = ControlAudit.objects.get()
    assert (refused.applied, refused.source, refused.before["lane"]) == (False, "admin", "paper")

    response = admin_client.post(
        f"{url}add/", {"name": "min_hold_s", "lane": "paper", "value": "200", "note": ""}
    )
    assert response.status_code == 302
    override = ParamOverride.objects.get()
    assert (override.name, override.lane, override.value) == ("min_hold_s", "paper", 200)
    listing = admin_client.get(url).content.decode()
    assert "The trader applies min_hold_s for lane paper within a second." in listing

    admin_client.post(f"{url}{override.pk}/change/", {"value": "150", "note": "edit"})
    assert ParamOverride.objects.get().value == 150
    assert ParamOverride.objects.get().lane == "paper"  # read-only on the change page
    admin_client.post(f"{url}{override.pk}/delete/", {"post": "yes"})
    assert not ParamOverride.objects.exists()
    audits = ControlAudit.objects.order_by("id").values_list("action", "applied", "source")
    assert list(audits)[1:] == [
        ("override_set", True, "admin"),
        ("override_set", True, "admin"),
        ("override_clear", True, "admin"),
    ]
    cleared = ControlAudit.objects.order_by("id").last()
    assert cleared is not None
    assert cleared.before == {"min_hold_s@paper": 150}


@override_settings(ANONYMOUS_READS=True)
def test_the_dashboard_lists_each_override_with_its_lane_and_when_it_applies():
    factories.lane_state("paper")
    controls.override_set(name="min_hold_s", value=200, lane="paper", actor=ROBOT)
    controls.override_set(name="obi_history_len", value=5, actor=ROBOT)
    page = Client().get("/").content.decode()
    start = page.index('id="sidebar-overrides"')
    listed = page[start : page.index("</ul>", start)]
    assert "min_hold_s = 200</code> · lane paper" in listed
    assert "obi_history_len = 5</code> · all lanes" in listed
    assert listed.count("applies at next restart") == 1
