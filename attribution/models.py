"""Models of the attribution app (added by the issues that build it)."""
