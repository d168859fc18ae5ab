"""Project-wide test rules: service availability and how a missing service is reported.

Tests that need PostgreSQL, Redis or Debian's Chromium are marked ``postgres``, ``redis``
or ``browser``. Where the service is missing they are skipped with a message saying so,
except under ``KBTC_REQUIRE_SERVICES=1`` (CI), where they fail.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection, connections

from marketdata.tests.outage import Outage

REQUIRE_SERVICES = os.environ.get("KBTC_REQUIRE_SERVICES") == "1"


def _redis_up() -> bool:
    if not settings.ENV.redis_url:
        return False
    import redis

    client = redis.Redis.from_url(settings.ENV.redis_url, socket_timeout=1)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


@functools.cache
def missing_services() -> dict[str, str]:
    missing: dict[str, str] = {}
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        missing["postgres"] = "PostgreSQL not configured (set DATABASE_URL)"
    if not _redis_up():
        missing["redis"] = "Redis not reachable (set REDIS_URL to a running server)"
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        missing["browser"] = "Debian's chromium and chromium-driver are not installed"
    return missing


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, reason in missing_services().items():
        if item.get_closest_marker(marker) is not None:
            if REQUIRE_SERVICES:
                pytest.fail(f"KBTC_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
            pytest.skip(reason)


@pytest.fixture
def outage(transactional_db: None) -> Iterator[Outage]:
    """A PostgreSQL outage the test begins and ends; always ended at teardown."""
    control = Outage(connection.settings_dict["NAME"])
    try:
        yield control
    finally:
        control.end()
        control.admin.close()
        connections.close_all()  # the test thread's connection was killed too
