"""Coinbase Advanced Trade market-data WebSocket adapter (BTC-USD spot)."""
