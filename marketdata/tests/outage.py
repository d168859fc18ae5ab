"""A real PostgreSQL outage for tests: the database made unreachable the way an outage
looks to a client. New connections are refused (``ALLOW_CONNECTIONS false``; revoking
CONNECT does not stop a superuser) and open ones are killed (``pg_terminate_backend``).
The ``outage`` fixture (root ``conftest.py``) hands one to a test and always ends it.
"""

from __future__ import annotations

import psycopg
from django.db import connection
from psycopg import sql


class Outage:
    def __init__(self, dbname: str) -> None:
        params = connection.settings_dict
        self.dbname = dbname
        self.admin = psycopg.connect(
            host=params["HOST"] or "127.0.0.1",
            port=params["PORT"] or 5432,
            user=params["USER"],
            password=params["PASSWORD"] or None,
            dbname="postgres",
            autocommit=True,
        )

    def begin(self) -> None:
        name = sql.Identifier(self.dbname)
        self.admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [self.dbname],
        )

    def end(self) -> None:
        name = sql.Identifier(self.dbname)
        self.admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
