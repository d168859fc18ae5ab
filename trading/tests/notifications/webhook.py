"""A local stand-in for Discord's webhooks: a real HTTP server on 127.0.0.1 that records
every post and answers as a test scripts it (204, 429 with ``Retry-After``, 5xx, 4xx, or a
hang until the test lets go)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: bool = False  # hold the request until ``release`` (or the server stops)


@dataclass(frozen=True)
class Received:
    channel: str  # the URL's last path segment
    body: dict[str, Any]
    at: float  # monotonic seconds

    @property
    def embed(self) -> dict[str, Any]:
        embed: dict[str, Any] = self.body["embeds"][0]
        return embed

    @property
    def title(self) -> str:
        return str(self.embed["title"])

    def field(self, name: str) -> str:
        return next(f["value"] for f in self.embed.get("fields", []) if f["name"] == name)


class WebhookServer:
    def __init__(self) -> None:
        self.posts: list[Received] = []
        self.in_flight = 0
        self._script: list[Answer] = []
        self._hang_all = False
        self._released = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                answer = server._next()
                with server._lock:
                    server.posts.append(
                        Received(self.path.rsplit("/", 1)[-1], body, time.monotonic())
                    )
                    server.in_flight += 1
                try:
                    if answer.hang:
                        server._released.wait(timeout=60)
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out first: that is what a hang test wants
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, channel: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/api/webhooks/1/{channel}"

    def script(self, *answers: Answer) -> None:
        """The next requests' answers, in order; after them every request gets a 204."""
        with self._lock:
            self._script.extend(answers)

    def hang(self) -> None:
        """Hold every request from now on until ``release``."""
        self._released.clear()
        self._hang_all = True

    def release(self) -> None:
        self._hang_all = False
        self._released.set()

    def _next(self) -> Answer:
        with self._lock:
            if self._hang_all:
                return Answer(hang=True)
            return self._script.pop(0) if self._script else Answer()

    def on(self, channel: str) -> list[Received]:
        return [post for post in self.posts if post.channel == channel]

    def wait_for(self, count: int, channel: str = "", timeout: float = 15.0) -> list[Received]:
        """Block until ``count`` posts arrived (on ``channel``, if given); not on a loop."""
        deadline = time.monotonic() + timeout
        found = self.on(channel) if channel else list(self.posts)
        while len(found) < count and time.monotonic() < deadline:
            time.sleep(0.01)
            found = self.on(channel) if channel else list(self.posts)
        assert len(found) >= count, f"{len(found)} posts, expected {count}"
        return found


@contextmanager
def webhook_server() -> Iterator[WebhookServer]:
    server = WebhookServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.release()
        server.httpd.shutdown()
        server.httpd.server_close()
