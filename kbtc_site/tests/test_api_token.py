from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_minted_token_lets_an_operator_pause_trading() -> None:
    get_user_model().objects.create_user("ops", password="x" * 12, is_staff=True)
    out = StringIO()
    call_command("create_api_token", "ops", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    response = Client().post(
        "/api/trading-pause",
        {"paused": True},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    wrong = Client().post(
        "/api/trading-pause",
        {"paused": False},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token[:-1]}x",
    )
    assert wrong.status_code == 401


def test_it_refuses_an_unknown_user() -> None:
    with pytest.raises(CommandError, match="no user named"):
        call_command("create_api_token", "nobody", stdout=StringIO())
