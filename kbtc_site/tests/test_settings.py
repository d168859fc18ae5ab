"""Startup refuses a malformed environment and names the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from kbtc_site.env import Env, load_env

ROOT = Path(__file__).resolve().parents[2]


def _clean_env(**extra: str) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KBTC_", "DATABASE_URL", "REDIS_URL"))
    }
    keep.pop("PORT", None)
    keep.update(extra)
    return keep


def test_it_names_the_variable_when_a_number_is_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(ImproperlyConfigured, match=r"PORT: .*integer.*'eighty'"):
        load_env()


def test_it_refuses_a_database_url_that_is_not_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://localhost/kbtc")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL: a postgres"):
        load_env()


def test_production_refuses_to_start_without_a_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBTC_ENV", "production")
    monkeypatch.delenv("KBTC_SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="KBTC_SECRET_KEY"):
        load_env()


def test_production_refuses_to_start_with_api_auth_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBTC_ENV", "production")
    monkeypatch.setenv("KBTC_SECRET_KEY", "x" * 60)
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1/kbtc")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("KBTC_API_AUTH", "false")
    with pytest.raises(ImproperlyConfigured, match="KBTC_API_AUTH"):
        load_env()


def test_no_environment_selects_the_embedded_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KBTC_") or name in ("DATABASE_URL", "REDIS_URL", "PORT"):
            monkeypatch.delenv(name)
    env = Env()
    assert env.embedded
    assert env.port == 8000
    assert not env.production


def test_manage_py_stops_with_the_variables_name() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=_clean_env(KBTC_SIM_SPEED="fast"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "KBTC_SIM_SPEED" in result.stderr
    assert "valid number" in result.stderr


def test_each_discord_channel_has_its_own_webhook_and_unset_is_off(monkeypatch):
    monkeypatch.setenv("DISCORD_RISK_WEBHOOK", "https://discord.com/api/webhooks/1/abc")
    monkeypatch.setenv("DISCORD_TRADES_WEBHOOK", "")  # empty counts as unset
    assert load_env().discord_webhooks == {"risk": "https://discord.com/api/webhooks/1/abc"}


def test_a_webhook_that_is_not_an_http_url_stops_startup_naming_it(monkeypatch):
    monkeypatch.setenv("DISCORD_ERRORS_WEBHOOK", "discord.com/api/webhooks/1/abc")
    with pytest.raises(ImproperlyConfigured, match="DISCORD_ERRORS_WEBHOOK: an http"):
        load_env()


def test_it_refuses_a_backup_schedule_not_in_crontab_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBTC_BACKUP_SCHEDULE", "daily")
    with pytest.raises(ImproperlyConfigured, match="KBTC_BACKUP_SCHEDULE: a crontab of 5 fields"):
        load_env()


def test_it_refuses_half_a_pair_of_backup_bucket_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBTC_BACKUP_S3_ACCESS_KEY_ID", "AKIA0000")
    monkeypatch.delenv("KBTC_BACKUP_S3_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="set both or neither"):
        load_env()
