"""Venues: where the engine's intents become fills (paper now; Kalshi live later)."""
