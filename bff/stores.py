"""The stores the BFF scales out on, seen from one process: a call that fails degrades
(the caller gets a default and falls back), a store that failed is skipped for a moment
instead of costing every request its timeout, and the log says once when a store goes
down and once when it is back, not a traceback per request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings

from bff import metrics
from bff.conf import bff_settings

logger = logging.getLogger("bff.stores")

T = TypeVar("T")

_PER_PROCESS = ("LocMemCache", "DummyCache")


def is_shared(alias: str = "default") -> bool:
    """Whether the cache `alias` is shared by every process and host (Redis, memcached)."""
    return not settings.CACHES[alias]["BACKEND"].endswith(_PER_PROCESS)


class Store:
    """One store's health in this process, and calls that survive its failure."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._skip_until = 0.0
        metrics.store_down(name, False)

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def call(
        self, operation: str, fn: Callable[..., T], *args: Any, default: Any = None, **kwargs: Any
    ) -> T | Any:
        """`fn(*args, **kwargs)`, or `default` when the store fails or was just seen down."""
        if time.monotonic() < self._skip_until:
            return default
        try:
            result = fn(*args, **kwargs)
        except (KeyError, ValueError):
            # An answer about the data (incr of a key that expired), not an outage.
            self.answered()
            return default
        except Exception as exc:  # any backend error: the caller has a way around the store
            self.failed(operation, exc)
            return default
        self.answered()
        return result

    def failed(self, operation: str, exc: BaseException) -> None:
        metrics.store_failed(self.name, operation)
        with self._lock:
            self._skip_until = time.monotonic() + bff_settings.BFF_STORE_RETRY_SECONDS
            if self._down_since is None:
                self._down_since = time.monotonic()
                metrics.store_down(self.name, True)
                logger.warning(
                    "store=%s down operation=%s error=%s", self.name, operation, type(exc).__name__
                )

    def answered(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is not None:
                seconds = time.monotonic() - self._down_since
                self._down_since = None
                metrics.store_down(self.name, False)
                logger.warning("store=%s back after_seconds=%.1f", self.name, seconds)


# The shared cache (Redis): sessions, session records, rate limits.
cache_store = Store("cache")
# The database, as seen by the requests it could not serve.
database_store = Store("database")
# The refresh lock's Redis (bff.locks.redis), when that lock is configured.
lock_redis_store = Store("lock_redis")
