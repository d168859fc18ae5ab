"""Small facts about addresses that every layer may ask."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def on_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
