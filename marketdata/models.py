"""Models of the marketdata app (added by the issues that build it)."""
