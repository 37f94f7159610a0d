"""Django's cached_db session engine, made to survive its cache: reads and writes that the
cache refuses fall back to the database (which is written first anyway), and a cache
that is down is skipped for a moment (bff.stores) instead of costing each request a
timeout. Django's own engine answers 500 when the cache fails to read, set or delete.

SESSION_ENGINE = "bff.session_store" (the default with a shared cache).
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import cached_db

from bff.stores import cache_store


class SessionStore(cached_db.SessionStore):
    def load(self) -> dict[str, Any]:
        data = cache_store.call("session_get", self._cache.get, self.cache_key)
        if data is None:
            stored = self._get_session_from_db()
            if not stored:
                return {}
            data = self.decode(stored.session_data)
            cache_store.call(
                "session_set",
                self._cache.set,
                self.cache_key,
                data,
                self.get_expiry_age(expiry=stored.expire_date),
            )
        return data

    def exists(self, session_key: str) -> bool:
        cached = cache_store.call(
            "session_exists", self._cache.has_key, self.cache_key_prefix + session_key
        )
        return bool(session_key and cached) or super(cached_db.SessionStore, self).exists(
            session_key
        )

    def save(self, must_create: bool = False) -> None:
        super(cached_db.SessionStore, self).save(must_create)
        cache_store.call(
            "session_set", self._cache.set, self.cache_key, self._session, self.get_expiry_age()
        )

    def delete(self, session_key: str | None = None) -> None:
        super(cached_db.SessionStore, self).delete(session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        cache_store.call("session_delete", self._cache.delete, self.cache_key_prefix + session_key)
