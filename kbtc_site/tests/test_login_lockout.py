from __future__ import annotations

from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

from trading.tests import factories

pytestmark = pytest.mark.django_db

GOOD = "correct horse battery"  # factories.operator's password


def _login(password: str, *, ip: str = "10.0.0.1", username: str = "operator") -> int:
    client = Client(REMOTE_ADDR=ip)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )
    return response.status_code


def test_the_right_password_logs_in():
    factories.operator()
    assert _login(GOOD) == 302


def test_five_wrong_passwords_lock_the_login_out_even_for_the_right_one():
    factories.operator()
    assert [_login("wrong") for _ in range(4)] == [200] * 4  # the form again, with its error
    assert _login("wrong") == 429  # the fifth locks
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == (
        "operator",
        "10.0.0.1",
        5,
    )
    assert _login(GOOD) == 429


def test_a_lockout_from_one_address_does_not_lock_the_operator_out_elsewhere():
    factories.operator()
    for _ in range(5):
        _login("wrong", ip="203.0.113.9")
    assert _login(GOOD, ip="203.0.113.9") == 429
    assert _login(GOOD, ip="10.0.0.1") == 302


def test_an_operator_unlocks_a_locked_out_login():
    factories.operator()
    for _ in range(5):
        _login("wrong")
    assert _login(GOOD) == 429
    call_command("axes_reset_username", "operator", stdout=StringIO())
    assert not AccessAttempt.objects.exists()
    assert _login(GOOD) == 302


def test_the_admin_lists_the_access_attempts(admin_client):
    factories.operator()
    _login("wrong")
    page = admin_client.get("/admin/axes/accessattempt/")
    assert page.status_code == 200
    assert "operator" in page.content.decode()
