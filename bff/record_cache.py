"""Session records in the shared cache, so a request with a fresh token needs no query.

On only when the cache is shared by every process and host (Redis, memcached): a
per-process cache could not learn that another process ended or refreshed a session.

Liveness is never taken from a cached record alone. Ending a session sets a separate
"ended" key that nothing ever deletes and that outlives every record entry, and each
lookup reads both keys in one round trip: a stale record written back by a slow request
cannot bring an ended session back. Records read from the database are added only when
absent, so they never replace a newer write; writes of newer state (refresh, backoff,
last seen) replace the entry once their transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from bff.conf import bff_settings
from bff.exceptions import StoreUnavailable
from bff.stores import cache_store

RECORD_KEY = "bff:record:{}"
ENDED_KEY = "bff:ended:{}"


class Ended(str):
    """A cached "this session ended" mark; its value is the end reason."""


# Longest a request may hold a loaded record (gunicorn's timeout) on top of the record TTL.
_REQUEST_SLACK_SECONDS = 300
_PER_PROCESS = ("LocMemCache", "DummyCache")


def enabled() -> bool:
    configured = bff_settings.BFF_RECORD_CACHE
    if configured is not None:
        return bool(configured)
    return not settings.CACHES["default"]["BACKEND"].endswith(_PER_PROCESS)


def _ttl() -> int:
    return int(bff_settings.BFF_RECORD_CACHE_SECONDS)


def _quietly(operation: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """A cache outage costs a database query, never a request."""
    return cache_store.call(operation, call, *args, **kwargs)


def get(record_id: str) -> Any:
    """The cached record, an Ended mark (with the reason), or None (read the database)."""
    if not enabled():
        return None
    keys = [RECORD_KEY.format(record_id), ENDED_KEY.format(record_id)]
    found = _quietly("get", cache.get_many, keys) or {}
    if keys[1] in found:
        reason = found[keys[1]]
        return Ended(reason if isinstance(reason, str) else "")
    return found.get(keys[0])


def ended_marks(record_ids: list[str]) -> dict[str, str] | None:
    """{id: reason} of those marked ended, in one round trip; None when records are not cached
    here or the cache did not answer (ask the database)."""
    if not enabled():
        return None
    keys = {ENDED_KEY.format(pk): pk for pk in record_ids}
    found = _quietly("get", cache.get_many, list(keys), default=None)
    if found is None:
        return None
    return {keys[key]: str(reason) or "ended" for key, reason in found.items()}


def add(record: Any) -> None:
    """Cache a record just read from the database, unless a newer write is there."""
    if enabled():
        _quietly("add", cache.add, RECORD_KEY.format(record.pk), record, _ttl())


def put(record: Any) -> None:
    """Cache a record whose newer state was just written (after the commit)."""
    if enabled():
        key = RECORD_KEY.format(record.pk)
        transaction.on_commit(lambda: _quietly("set", cache.set, key, record, _ttl()))


def mark_ended(record_ids: Iterable[Any], reason: str, *, now: bool = False) -> None:
    """Mark the records ended for every host that reads the cache.

    Written after the commit; with `now`, at once and StoreUnavailable when it cannot be
    (a back-channel logout then answers 503, so the provider tries again).
    """
    if not enabled():
        return
    ended = {ENDED_KEY.format(pk): str(reason) for pk in record_ids}
    ttl = 2 * _ttl() + _REQUEST_SLACK_SECONDS
    if not ended:
        return
    if now:
        failed = cache_store.call("end", cache.set_many, ended, ttl, default=None)
        if failed is None or failed:
            raise StoreUnavailable("the cache did not take the ended mark")
        return
    transaction.on_commit(lambda: _quietly("end", cache.set_many, ended, ttl))


def forget(record_ids: Iterable[Any]) -> None:
    """Drop cached records (their user changed); the next request reads the database."""
    if enabled():
        keys = [RECORD_KEY.format(pk) for pk in record_ids]
        if keys:
            transaction.on_commit(lambda: _quietly("delete", cache.delete_many, keys))
