"""Database lock: a row lock on the session record, held in the refresh's transaction.

PostgreSQL: SELECT ... FOR UPDATE with a lock_timeout bounds the wait. SQLite: the
connection runs transactions as BEGIN IMMEDIATE (see settings), which takes the database's
write lock up front; the connection's busy timeout bounds the wait. The new tokens are
written inside the transaction, so they are committed before the lock is released.
A key `<session id>:<upstream>` (an upstream's own token) locks the session's row too: a
row lock cannot be finer, and holding it again in the same transaction costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import OperationalError, connection, transaction

from bff.exceptions import LockTimeout
from bff.locks.base import Held, RefreshLock
from bff.models import TokenSession


class DatabaseLock(RefreshLock):
    @contextmanager
    def hold(self, session_id: str, wait: float) -> Iterator[Held]:
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL lock_timeout = %s", [f"{int(wait * 1000)}ms"])
                list(
                    TokenSession.objects.select_for_update()
                    .filter(pk=session_id.partition(":")[0])
                    .values_list("pk", flat=True)
                )
                # Held until the transaction ends: it cannot expire under its holder.
                yield Held()
        except OperationalError as exc:
            # Only lock waits end up here; anything raised by the body propagates unchanged.
            if "lock" in str(exc).lower():
                raise LockTimeout(str(exc)) from exc
            raise
