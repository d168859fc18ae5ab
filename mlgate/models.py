"""Models of the mlgate app (added by the issues that build it)."""
