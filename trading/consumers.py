"""The dashboard's WebSocket: joins the daemon's topic groups and forwards rendered frames."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

TOPICS = ("market", "signal", "position", "trade", "equity", "health")


class DashboardConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if not settings.ANONYMOUS_READS and not (user and user.is_authenticated):
            await self.close(code=4403)  # htmx's ws extension does not retry 4xxx codes
            return
        for topic in TOPICS:
            await self.channel_layer.group_add(f"kbtc.{topic}", self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for topic in TOPICS:
            await self.channel_layer.group_discard(f"kbtc.{topic}", self.channel_name)

    async def dashboard_frame(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])
