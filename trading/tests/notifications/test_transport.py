"""The webhook post's rules (domain.md §8) against a real local HTTP server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from trading.notifications.embeds import embed
from trading.notifications.transport import MAX_ATTEMPTS, deliver
from trading.tests.notifications.webhook import Answer, WebhookServer, webhook_server

BODY = embed("[PAPER] Trade opened: LONG KXBTC15M-26SEP211415-15")


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    with webhook_server() as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=2.0) as running:
        yield running


class Waits(list[float]):
    """Records each wait instead of spending it (the rules, not the clock, are tested)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_it_delivers_on_the_first_success(server, client):
    delivery = deliver(server.url("trades"), BODY, client=client, sleep=Waits())

    assert delivery.ok
    assert delivery.attempts == 1
    assert [post.body for post in server.posts] == [BODY]


def test_a_429_waits_what_retry_after_says_then_posts_again(server, client):
    server.script(Answer(429, {"Retry-After": "0.25"}, b'{"retry_after": 9}'))
    waits = Waits()

    delivery = deliver(server.url("trades"), BODY, client=client, sleep=waits)

    assert delivery.ok
    assert delivery.attempts == 2
    assert waits == [0.25]  # the header wins over the body
    assert [post.body for post in server.posts] == [BODY, BODY]


def test_a_429_without_the_header_reads_the_body_and_is_capped_at_a_minute(server, client):
    server.script(
        Answer(429, {"Content-Type": "application/json"}, b'{"retry_after": 1.5}'),
        Answer(429, {"Retry-After": "3600"}),
    )
    waits = Waits()

    delivery = deliver(server.url("trades"), BODY, client=client, sleep=waits)

    assert delivery.ok
    assert waits == [1.5, 60.0]


def test_a_5xx_backs_off_doubling_to_30_s_and_gives_up_after_8_attempts(server, client):
    server.script(*[Answer(502, body=b"bad gateway")] * MAX_ATTEMPTS)
    waits = Waits()

    delivery = deliver(server.url("trades"), BODY, client=client, sleep=waits)

    assert not delivery.ok
    assert delivery.attempts == 8
    assert len(server.posts) == 8
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert delivery.error == "gave up after 8 attempts: HTTP 502: bad gateway"


def test_a_5xx_then_success_delivers(server, client):
    server.script(Answer(500), Answer(503))
    waits = Waits()

    delivery = deliver(server.url("trades"), BODY, client=client, sleep=waits)

    assert delivery.ok
    assert delivery.attempts == 3
    assert waits == [0.5, 1.0]


@pytest.mark.parametrize("status", [400, 401, 404, 413])
def test_any_other_4xx_gives_up_at_once(server, client, status):
    server.script(Answer(status, body=b'{"message": "Invalid Form Body"}'))
    waits = Waits()

    delivery = deliver(server.url("trades"), BODY, client=client, sleep=waits)

    assert not delivery.ok
    assert delivery.attempts == 1
    assert waits == []
    assert delivery.error == f'HTTP {status}: {{"message": "Invalid Form Body"}}'


def test_a_refused_connection_is_a_network_error_that_backs_off(client):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens on it once closed
    waits = Waits()

    delivery = deliver(f"http://127.0.0.1:{port}/hook", BODY, client=client, sleep=waits)

    assert not delivery.ok
    assert delivery.attempts == 8
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert "ConnectError" in delivery.error


def test_a_webhook_that_hangs_times_out_and_is_retried(server):
    server.script(Answer(hang=True))
    waits = Waits()

    with httpx.Client(timeout=0.3) as client:
        delivery = deliver(server.url("trades"), BODY, client=client, sleep=waits)

    assert delivery.ok
    assert delivery.attempts == 2
    assert waits == [0.5]
    assert len(server.posts) == 2
