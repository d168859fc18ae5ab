"""The embedded demo: one process serving the dashboard (daphne), on 127.0.0.1 only.

Prepares the database (migrations, schedules, a first-run operator account whose password
is printed once and stored only as a hash), then serves the ASGI app. Background services
registered in ``kbtc_site.demo`` start on daphne's own asyncio loop once it is listening,
so the in-memory channel layer is shared by everything in the process. On Ctrl-C or
SIGTERM the reactor's shutdown first cancels them and waits for them (the trader saves its
final state), while the loop still runs.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from kbtc_site import demo

OPERATOR_USERNAME = "operator"


def ensure_operator() -> str | None:
    """Create the operator on first start; return the new password (else None)."""
    user_model = get_user_model()
    if user_model.objects.filter(is_staff=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    user_model.objects.create_superuser(username=OPERATOR_USERNAME, email="", password=password)
    return password


class Command(BaseCommand):
    help = "Run the embedded KBTC demo (dashboard, trader and simulator in one process)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args: Any, port: int, host: str, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("sync_schedules", verbosity=0)
        password = ensure_operator()
        url = f"http://{host}:{port}/"
        self.stdout.write(f"KBTC dashboard: {url}")
        if password is not None:
            self.stdout.write(
                f"First run: operator login is '{OPERATOR_USERNAME}' / '{password}' "
                "(shown once; change it in the admin)"
            )
        # Piped (a log file, a process manager) stdout is block-buffered: without a flush
        # the one-time password would appear only when the server stops, if ever.
        self.stdout.flush()
        self._serve(host, port)

    def _serve(self, host: str, port: int) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from twisted.internet import defer, reactor  # daphne.server installed the asyncio one

        from kbtc_site.asgi import application

        background: list[asyncio.Task[None]] = []

        def on_ready() -> None:
            loop = asyncio.get_event_loop()
            background.extend(loop.create_task(job()) for job in demo.BACKGROUND_JOBS)
            self.stdout.write(f"listening on {host}:{port}")
            self.stdout.flush()

        def on_shutdown() -> defer.Deferred[None]:
            # Returning a Deferred holds the reactor (and the loop) until the jobs are done.
            return defer.Deferred.fromFuture(asyncio.ensure_future(demo.stop_jobs(background)))

        # (the stubs type the reactor as a zope interface, whose methods take no self)
        reactor.addSystemEventTrigger("before", "shutdown", on_shutdown)  # type: ignore[arg-type]
        Server(
            application=application,
            endpoints=build_endpoint_description_strings(host=host, port=port),
            websocket_timeout=-1,  # no 24 h cliff; the page reconnects after any close anyway
            ready_callable=on_ready,
            verbosity=0,
        ).run()
