"""Discord notifications (domain.md §8): what the operator is told, and how it gets there.

``embeds`` and ``messages`` are pure (records in, webhook bodies out); ``transport`` is one
post with Discord's retry rules; ``tasks`` runs it as a Celery task; ``sink`` is the
trader's side (never waits); ``jobs`` is what other jobs call; ``status`` is each
channel's state for the health panel.
"""
