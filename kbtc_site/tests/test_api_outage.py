"""The REST API with PostgreSQL away (a real outage: connections refused and killed)."""

from __future__ import annotations

import pytest
from django.db import connections
from knox.models import AuthToken
from rest_framework.test import APIClient

from trading.models import ControlAudit, TradingControls
from trading.tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_control_during_an_outage_answers_503_and_changes_nothing(outage):
    user = factories.operator()
    _, token = AuthToken.objects.create(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    outage.begin()
    connections.close_all()
    try:
        response = client.post("/api/trading-pause", {"paused": True}, format="json")
    finally:
        outage.end()
    assert response.status_code == 503
    assert "database is unavailable" in response.json()["detail"]
    assert "OperationalError" in response.json()["detail"]
    assert response["Retry-After"] == "5"
    connections.close_all()
    assert not TradingControls.objects.filter(paused=True).exists()
    assert not ControlAudit.objects.exists()
