"""A property-based run of the API's own OpenAPI schema (schemathesis) with an operator's
bearer token: whatever the generated input, valid or not, no answer is a 5xx (issue #15).

Bounded: ``MAX_EXAMPLES`` valid and as many invalid cases per operation, in process
(Django's WSGI app, no socket). A ``series_ticker`` override would ask Kalshi:
``KALSHI_API_URL`` points at a closed loopback port, so such a case is refused without
leaving the machine. (Hypothesis drives
each operation's strategy here, not schemathesis' pytest integration, whose lazy loader
does not run on this pytest.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from knox.models import AuthToken
from schemathesis.generation import GenerationMode

from trading.tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

MAX_EXAMPLES = 40


@pytest.fixture
def api_schema() -> Iterator[Any]:
    # The WSGI handler closes the database connection at each request's end; the test's
    # transaction lives on it. Django's test client unhooks the same signals.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_no_generated_request_gets_a_server_error(api_schema: Any) -> None:
    _, token = AuthToken.objects.create(factories.operator())
    headers = {"Authorization": f"Bearer {token}"}
    server_errors: list[str] = []
    calls = 0

    def run(operation: Any, mode: GenerationMode) -> None:
        @hypothesis_settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers=headers)
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r}"
                    f" -> {response.status_code}: {response.text[:200]}"
                )

        try:
            call()
        except Unsatisfiable:
            # An operation with nothing to get wrong (no parameters, no body): schemathesis
            # cannot make an invalid request of it. Its valid requests ran in the other mode.
            if mode is not GenerationMode.NEGATIVE:
                raise

    offline = {**settings.KBTC, "KALSHI_API_URL": "http://127.0.0.1:9/trade-api/v2"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    with override_settings(KBTC=offline):
        for operation in operations:
            for mode in GenerationMode:  # valid inputs, then inputs the schema forbids
                run(operation, mode)
    assert len(operations) >= 15
    assert calls >= len(operations) * 10  # it really generated cases for each operation
    assert server_errors == []
