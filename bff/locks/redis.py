"""Redis lock: redis-py's Lock (SET key token NX PX ttl, released only by its holder with
a compare-and-delete script) behind the RefreshLock interface.

Held longer than anything it guards can take, it is also renewed while held (a
watchdog extends it every third of its lifetime), and `lost()` asks Redis whether it is
still ours before the provider is called: a holder stalled past the lock's lifetime (a
database that stopped answering) never sends a second refresh grant. When Redis cannot be
reached the refresh falls back to the database lock, so a Redis outage costs speed, not
refreshes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.lock import Lock

from bff import metrics
from bff.conf import bff_settings
from bff.exceptions import LockTimeout
from bff.locks.base import Held, RefreshLock
from bff.locks.database import DatabaseLock
from bff.stores import lock_redis_store
from oidc.conf import oidc_settings

logger = logging.getLogger(__name__)

# How often a waiter asks again whether the lock is free.
POLL_SECONDS = 0.01


class HeldRedisLock(Held):
    def __init__(self, lock: Lock) -> None:
        self.lock = lock
        self.released = threading.Event()
        self.renew_failed = False
        period = float(lock.timeout) / 3
        self._watchdog = threading.Thread(target=self._renew, args=(period,), daemon=True)
        self._watchdog.start()

    def _renew(self, period: float) -> None:
        while not self.released.wait(period):
            try:
                self.lock.extend(self.lock.timeout, replace_ttl=True)
            except redis.RedisError:  # LockNotOwnedError included
                self.renew_failed = True
                return

    def lost(self) -> bool:
        if self.renew_failed:
            return True
        try:
            return not self.lock.owned()
        except redis.RedisError:
            return True  # cannot confirm it is ours: act as if it were not

    def release(self) -> None:
        self.released.set()
        try:
            self.lock.release()
        except redis.RedisError:
            pass  # expired or unreachable: the key expires on its own after ttl


class RedisLock(RefreshLock):
    def __init__(self) -> None:
        timeout = bff_settings.BFF_LOCK_REDIS_TIMEOUT_SECONDS
        self.client = redis.Redis.from_url(
            bff_settings.BFF_LOCK_REDIS_URL,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        connect, read = oidc_settings.OIDC_HTTP_TIMEOUT
        self.ttl = connect + read + 10
        self.fallback = DatabaseLock()

    @contextmanager
    def hold(self, session_id: str, wait: float) -> Iterator[Held]:
        lock = self.client.lock(
            f"bff:refresh-lock:{session_id}",
            timeout=self.ttl,
            sleep=POLL_SECONDS,
            blocking_timeout=wait,
            thread_local=False,  # the watchdog thread renews it with the holder's token
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError as exc:
            logger.warning("refresh lock: redis unavailable (%s), using the database lock", exc)
            lock_redis_store.failed("acquire", exc)
            metrics.lock_fell_back()
            with self.fallback.hold(session_id, wait) as held:
                yield held
            return
        lock_redis_store.answered()
        if not acquired:
            raise LockTimeout(f"waited {wait}s for the refresh lock")
        held = HeldRedisLock(lock)
        try:
            yield held
        finally:
            held.release()
