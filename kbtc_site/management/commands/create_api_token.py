"""Mint a bearer token for an API client (a script, a notebook, a monitor).

The token is printed once and stored only as a hash (django-rest-knox); revoke it in the
admin under "Auth tokens". State-changing calls need the user to be staff (an operator).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from knox.models import AuthToken


class Command(BaseCommand):
    help = "Create a bearer token for USERNAME and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--days", type=int, default=90, help="lifetime (default 90 days)")

    def handle(self, *args: Any, username: str, days: int, **options: Any) -> None:
        if days < 1:
            raise CommandError("--days must be at least 1")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        _, token = AuthToken.objects.create(user=user, expiry=timedelta(days=days))
        role = "operator" if user.is_staff else "read-only (not staff)"
        self.stdout.write(f"Bearer token for {username} ({role}), valid {days} days:")
        self.stdout.write(token)
