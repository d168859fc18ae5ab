"""Discord embeds and the limits Discord enforces on them (pure: no I/O, no clock).

A post over any limit is refused with a 400, which the transport cannot retry: the
notification would be lost. So every embed is cut to fit here, before it is queued.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
TOTAL_MAX = 6000  # title + description + field names and values + footer

GREEN = 0x2ECC71
RED = 0xE74C3C
AMBER = 0xF1C40F
BLUE = 0x3498DB
GREY = 0x95A5A6

CHANNELS = ("trades", "live_trades", "risk", "heartbeat", "errors", "attribution")


@dataclass(frozen=True, slots=True)
class Post:
    """One embed for one channel: what the transport task receives (plain JSON)."""

    channel: str
    payload: dict[str, Any]


def badge(title: str, mode: str) -> str:
    """Every title says which money it is about: ``[PAPER]`` or ``[LIVE]``."""
    return f"[{mode.upper()}] {title}" if mode else title


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def embed(
    title: str,
    *,
    description: str = "",
    fields: tuple[tuple[str, str], ...] = (),
    color: int = GREY,
    footer: str = "",
    ts_ms: int | None = None,
) -> dict[str, Any]:
    """The webhook body for one embed, every part cut to Discord's limits. Fields past the
    25th are dropped (the footer says how many); the description gives way first when the
    whole embed is over the total."""
    title = _cut(title, TITLE_MAX)
    kept = [
        (_cut(name or "-", FIELD_NAME_MAX), _cut(value or "-", FIELD_VALUE_MAX))
        for name, value in fields[:FIELDS_MAX]
    ]
    if len(fields) > FIELDS_MAX:
        footer = f"{footer} · {len(fields) - FIELDS_MAX} more fields not shown".lstrip(" ·")
    footer = _cut(footer, FOOTER_MAX)
    fixed = len(title) + len(footer) + sum(len(n) + len(v) for n, v in kept)
    while fixed > TOTAL_MAX and kept:  # only reachable with many long fields
        name, value = kept.pop()
        fixed -= len(name) + len(value)
    description = _cut(description, min(DESCRIPTION_MAX, max(TOTAL_MAX - fixed, 1)))
    body: dict[str, Any] = {"title": title, "color": color}
    if description:
        body["description"] = description
    if kept:
        body["fields"] = [{"name": n, "value": v, "inline": True} for n, v in kept]
    if footer:
        body["footer"] = {"text": footer}
    if ts_ms is not None:
        body["timestamp"] = iso(ts_ms)
    return {"embeds": [body]}


def iso(ts_ms: int) -> str:
    return dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def embed_length(payload: dict[str, Any]) -> int:
    """The characters Discord counts against ``TOTAL_MAX``."""
    body = payload["embeds"][0]
    return (
        len(body.get("title", ""))
        + len(body.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in body.get("fields", []))
        + len(body.get("footer", {}).get("text", ""))
    )
