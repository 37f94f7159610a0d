"""Django's PostgreSQL backend, with the health check moved from before a request to after a
failure.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` on a persistent connection before the first
query of every request: one more round trip per request. Here that first query goes
straight out, and only when it fails on a connection that died while idle (a server restart,
a failover, a proxy's idle cut) — outside a transaction, so nothing else ran on it — is the
connection replaced and the query sent again on the new one. A request whose first use of the
connection opens a transaction (a sign-in) is checked with Django's SELECT 1 first, as before:
a query inside a transaction cannot be sent again. A restart of PostgreSQL costs no
request its answer, and a healthy connection costs no extra round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unproven = False
        # Outermost, so it sees the query before any other wrapper and can send it again.
        self.execute_wrappers.insert(0, self._retry_on_dead_connection)

    def close_if_health_check_failed(self) -> None:
        """Instead of a SELECT 1 now, let the first query prove the connection."""
        if self.connection is not None and self.health_check_enabled:
            if not self.health_check_done:
                self._unproven = True
                self.health_check_done = True

    def set_autocommit(self, autocommit: bool, *args: Any, **kwargs: Any) -> None:
        """A transaction that begins with the request's first use of the connection: a query
        inside it could not be sent again, so the connection is checked first (SELECT 1), as
        Django would have before the request."""
        unchecked = self.health_check_enabled and (not self.health_check_done or self._unproven)
        if not autocommit and self.connection is not None and unchecked:
            self._unproven = False
            self.health_check_done = True
            if not self.is_usable():
                self.close()
        super().set_autocommit(autocommit, *args, **kwargs)

    def _retry_on_dead_connection(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict
    ) -> Any:
        if not self._unproven:
            return execute(sql, params, many, context)
        self._unproven = False
        try:
            return execute(sql, params, many, context)
        except (OperationalError, InterfaceError):
            if self.in_atomic_block or self.connection is None or self.is_usable():
                raise  # in a transaction, or the connection lives: the query itself failed
        self.close()
        with self.wrap_database_errors:  # a server still down: Django's OperationalError
            self.connect()
            # The caller's cursor belonged to the dead connection: one of the new one.
            context["cursor"].cursor = self.create_cursor()
        return execute(sql, params, many, context)
