"""Session records in the shared cache, so a request with a fresh token needs no query.

On only when the cache is shared by every process and host (Redis, memcached): a
per-process cache could not learn that another process ended or refreshed a session.

Entries are keyed by the browser's session key (the record's `browser_key`), so the session
engine (bff.session_store) reads the Django session, the record and its "ended" mark in one
round trip, knowing only the cookie.

Liveness is never taken from a cached record alone. Ending a session sets a separate
"ended" key that nothing ever deletes and that outlives every record entry, and each
lookup reads both keys in that one round trip: a stale record written back by a slow
request cannot bring an ended session back. Records read from the database are added only
when absent, so they never replace a newer write; writes of newer state (refresh, backoff,
last seen) replace the entry once their transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction

from bff.conf import bff_settings
from bff.exceptions import StoreUnavailable
from bff.stores import cache_store, is_shared

RECORD_KEY = "bff:record:{}"
ENDED_KEY = "bff:ended:{}"


class Ended(str):
    """A cached "this session ended" mark; its value is the end reason."""


# Longest a request may hold a loaded record (gunicorn's timeout) on top of the record TTL.
_REQUEST_SLACK_SECONDS = 300


def enabled() -> bool:
    configured = bff_settings.BFF_RECORD_CACHE
    if configured is not None:
        return bool(configured)
    return is_shared()


def _ttl() -> int:
    return int(bff_settings.BFF_RECORD_CACHE_SECONDS)


def _quietly(operation: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """A cache outage costs a database query, never a request."""
    return cache_store.call(operation, call, *args, **kwargs)


def keys(browser_key: str) -> tuple[str, str]:
    """The cache keys of the record a browser session holds, and of its ended mark."""
    return RECORD_KEY.format(browser_key), ENDED_KEY.format(browser_key)


def found(browser_key: str, entries: dict[str, Any]) -> Any:
    """From a get_many that included keys(browser_key): the record, an Ended mark (with the
    reason), or None (read the database)."""
    record_key, ended_key = keys(browser_key)
    if ended_key in entries:
        reason = entries[ended_key]
        return Ended(reason if isinstance(reason, str) else "")
    return entries.get(record_key)


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
    if enabled() and record.browser_key:
        _quietly("add", cache.add, RECORD_KEY.format(record.browser_key), record, _ttl())


def put(record: Any) -> None:
    """Cache a record whose newer state was just written (after the commit)."""
    if enabled() and record.browser_key:
        key = RECORD_KEY.format(record.browser_key)
        transaction.on_commit(lambda: _quietly("set", cache.set, key, record, _ttl()))


def mark_ended(marks: Iterable[str], reason: str, *, now: bool = False) -> None:
    """Mark records ended for every host that reads the cache: `marks` are browser session
    keys (what requests read) and record ids (what open streams poll, ended_marks).

    Written after the commit; with `now`, at once and StoreUnavailable when it cannot be
    (a back-channel logout then answers 503, so the provider tries again).
    """
    if not enabled():
        return
    ended = {ENDED_KEY.format(key): str(reason) for key in marks if key}
    ttl = 2 * _ttl() + _REQUEST_SLACK_SECONDS
    if not ended:
        return
    if now:
        failed = cache_store.call("end", cache.set_many, ended, ttl, default=None)
        if failed is None or failed:
            raise StoreUnavailable("the cache did not take the ended mark")
        return
    transaction.on_commit(lambda: _quietly("end", cache.set_many, ended, ttl))


def forget(browser_keys: Iterable[str]) -> None:
    """Drop cached records (their user changed); the next request reads the database."""
    if enabled():
        stale = [RECORD_KEY.format(key) for key in browser_keys if key]
        if stale:
            transaction.on_commit(lambda: _quietly("delete", cache.delete_many, stale))
