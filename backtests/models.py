"""Models of the backtests app (added by the issues that build it)."""
