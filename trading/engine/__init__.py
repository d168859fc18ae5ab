"""The KBTC decision engine (placeholder docstring, replaced with the checklist)."""
