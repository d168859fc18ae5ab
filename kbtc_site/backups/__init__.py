"""Database backups: dumps, their off-machine copies, retention and the restore drill
(docs/runbooks/backups.md)."""
