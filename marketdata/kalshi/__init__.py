"""Kalshi adapters: request signing, the REST client, the WebSocket client and wire parsing."""
