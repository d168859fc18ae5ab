"""The dashboard's WebSocket: joins the daemon's topic groups and the controls group, renders
each message into HTML partials (plus JSON chart ticks) and sends them as text frames.

Server to client only: commands go through ``hx-post`` views with CSRF (django-notes §2.4).
On connect it sends a full snapshot, so a page that reconnects (after any close) catches up.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import close_old_connections

from kbtc_core.permissions import is_operator
from trading import dashboard
from trading.push import CONTROLS_GROUP, DASHBOARD_GROUP, TOPICS, topic_group

GROUPS = (*(topic_group(topic) for topic in TOPICS), CONTROLS_GROUP, DASHBOARD_GROUP)


def _render_topic(topic: str, payloads: list[dict[str, Any]], can_control: bool) -> list[str]:
    close_old_connections()
    frames: list[str] = []
    for payload in payloads:
        frames.extend(dashboard.render_topic(topic, payload, can_control=can_control))
    return frames


def _render_snapshot(can_control: bool) -> list[str]:
    close_old_connections()
    return [dashboard.render_snapshot(can_control=can_control), dashboard.render_trades()]


def _render_sidebar(can_control: bool) -> str:
    close_old_connections()
    return dashboard.render_sidebar(can_control=can_control)


class DashboardConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if not settings.ANONYMOUS_READS and not (user and user.is_authenticated):
            await self.close(code=4403)  # htmx's ws extension does not retry 4xxx codes
            return
        self.can_control = is_operator(user)
        for group in GROUPS:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        for frame in await database_sync_to_async(_render_snapshot)(self.can_control):
            await self.send(text_data=frame)

    async def disconnect(self, code: int) -> None:
        for group in GROUPS:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Client messages are ignored; a ping re-joins the groups (channels-redis expires
        memberships after ``group_expiry``)."""
        for group in GROUPS:
            await self.channel_layer.group_add(group, self.channel_name)

    async def live_message(self, event: dict[str, Any]) -> None:
        frames = await database_sync_to_async(_render_topic)(
            event["topic"], event["payloads"], self.can_control
        )
        for frame in frames:
            await self.send(text_data=frame)

    async def controls_changed(self, event: dict[str, Any]) -> None:
        await self.send(text_data=await database_sync_to_async(_render_sidebar)(self.can_control))

    async def dashboard_close(self, event: dict[str, Any]) -> None:
        """Server-initiated close (``push.close_dashboards``); the page reconnects."""
        await self.close(code=event.get("code", 1000))

    async def dashboard_frame(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])
