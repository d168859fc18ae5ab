"""The trading daemon (``manage.py run_trader``): feeds → session → venues, persistence."""
