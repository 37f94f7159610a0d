"""The session engine (SESSION_ENGINE = "bff.session_store"): Django's database sessions in
BrowserSession rows, each naming the token session record its browser holds, so that one
query loads the session, the record and the record's user.

With a shared cache (Redis, memcached) it is Django's cached_db, made to survive its cache:
reads and writes that the cache refuses fall back to the database (which is written first
anyway), and a cache that is down is skipped for a moment (bff.stores) instead of costing
each request a timeout. Django's own cached_db answers 500 when the cache fails.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends import db
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import connections, router
from django.db.models.query import get_related_populators
from django.utils import timezone

from bff import record_cache
from bff.models import BrowserSession, TokenSession
from bff.sessions import SESSION_KEY
from bff.stores import cache_store, is_shared

CACHE_KEY_PREFIX = "django.contrib.sessions.cached_db"


class SessionStore(db.SessionStore):
    """Sessions in the database, cached when the session cache is shared.

    After a load, `record` is the token session record the session names (with its user),
    its record_cache.Ended mark, or None; bff.sessions.load_session takes it instead of a
    query.
    """

    cache_key_prefix = CACHE_KEY_PREFIX

    def __init__(self, session_key: str | None = None) -> None:
        self._cache = caches[settings.SESSION_CACHE_ALIAS]
        self.cached = is_shared(settings.SESSION_CACHE_ALIAS)
        self.record: TokenSession | record_cache.Ended | None = None
        super().__init__(session_key)

    @classmethod
    def get_model_class(cls) -> type[BrowserSession]:
        return BrowserSession

    @property
    def cache_key(self) -> str:
        return self.cache_key_prefix + self._get_or_create_session_key()

    def _get_session_from_db(self) -> BrowserSession | None:
        try:
            stored = _joined_query().get(self.session_key, timezone.now())
        except SuspiciousOperation as exc:
            logging.getLogger(f"django.security.{type(exc).__name__}").warning(str(exc))
            stored = None
        if stored is None:
            self._session_key = None
        return stored

    def create_model_instance(self, data: dict[str, Any]) -> BrowserSession:
        instance = super().create_model_instance(data)
        instance.token_session_id = data.get(SESSION_KEY) or None
        return instance

    def load(self) -> dict[str, Any]:
        if self.cached and self.session_key:
            data = self._load_from_cache()
            if data is not None:
                return data
        stored = self._get_session_from_db()
        if not stored:
            return {}
        self.record = stored.token_session
        if self.record is not None:
            record_cache.add(self.record)
        data = self.decode(stored.session_data)
        if self.cached:
            expiry = self.get_expiry_age(expiry=stored.expire_date)
            cache_store.call("session_set", self._cache.set, self.cache_key, data, expiry)
        return data

    def _load_from_cache(self) -> dict[str, Any] | None:
        """The session from the cache, with its record (or the record's ended mark) read in
        the same round trip when the record cache shares the session cache; None when the
        database must answer (the session, or the record it names, is not cached)."""
        if settings.SESSION_CACHE_ALIAS != "default" or not record_cache.enabled():
            return cache_store.call("session_get", self._cache.get, self.cache_key)
        wanted = [self.cache_key, *record_cache.keys(self.session_key)]
        entries = cache_store.call("session_get", self._cache.get_many, wanted) or {}
        data = entries.get(self.cache_key)
        if data is None:
            return None
        self.record = record_cache.found(self.session_key, entries)
        if self.record is None and data.get(SESSION_KEY):
            return None  # the record is not cached: the session and it in one query
        return data

    def exists(self, session_key: str) -> bool:
        if self.cached and session_key:
            key = self.cache_key_prefix + session_key
            if cache_store.call("session_exists", self._cache.has_key, key):
                return True
        return super().exists(session_key)

    def save(self, must_create: bool = False) -> None:
        super().save(must_create)
        if self.cached:
            expiry = self.get_expiry_age()
            cache_store.call("session_set", self._cache.set, self.cache_key, self._session, expiry)

    def delete(self, session_key: str | None = None) -> None:
        super().delete(session_key)
        if not self.cached:
            return
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        cache_store.call("session_delete", self._cache.delete, self.cache_key_prefix + session_key)

    def flush(self) -> None:
        self.clear()
        self.delete(self.session_key)
        self._session_key = None


class JoinedQuery:
    """The engine's one query: the browser session joined with its record and the record's
    user, compiled by Django once (per thread and database) instead of on every request.

    Compiling a select_related query over three models costs more CPU than sending it and
    reading its row; the SQL, the column converters and the way rows become model instances
    are Django's own, kept from one compilation (as ModelIterable uses them).
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias
        probe_time = datetime(2000, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)
        queryset = (
            BrowserSession.objects.using(alias)
            .select_related("token_session__user")
            .filter(session_key=_PROBE_KEY, expire_date__gt=probe_time)
        )
        self.compiler = queryset.query.get_compiler(using=alias)
        self.sql, params = self.compiler.as_sql()
        expire_date = BrowserSession._meta.get_field("expire_date")
        self._time = expire_date.get_db_prep_value
        params = list(params)
        if len(params) != 2 or _PROBE_KEY not in params:
            raise ImproperlyConfigured(f"unexpected session query parameters: {params!r}")
        self.key_index = params.index(_PROBE_KEY)
        self.time_index = 1 - self.key_index
        if params[self.time_index] != self._adapted(probe_time):
            raise ImproperlyConfigured("the session query's time parameter does not round-trip")
        select, klass_info = self.compiler.select, self.compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        self.own = slice(start, end)
        self.init_list = [column[0].target.attname for column in select[start:end]]
        self.populators = get_related_populators(klass_info, select, alias)

    def _adapted(self, moment: datetime) -> Any:
        return self._time(moment, connections[self.alias], prepared=False)

    def get(self, session_key: str | None, now: datetime) -> BrowserSession | None:
        """The unexpired session of that key with its record and user, or None."""
        if not session_key:
            return None
        params: list[Any] = [None, None]
        params[self.key_index] = session_key
        params[self.time_index] = self._adapted(now)
        with connections[self.alias].cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchmany(2)
        for row in self.compiler.results_iter([rows]):
            stored = BrowserSession.from_db(self.alias, self.init_list, row[self.own])
            for populator in self.populators:
                populator.populate(row, stored)
            return stored
        return None


_PROBE_KEY = "bff-session-query-probe"
_compiled = threading.local()


def _joined_query() -> JoinedQuery:
    alias = router.db_for_read(BrowserSession)
    queries = _compiled.__dict__.setdefault("queries", {})
    query = queries.get(alias)
    if query is None:
        query = queries[alias] = JoinedQuery(alias)
    return query
