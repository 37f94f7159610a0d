"""Redis lock: redis-py's Lock (SET key token NX PX ttl, released only by its holder with
a compare-and-delete script) behind the RefreshLock interface.

The lock lives longer than the token endpoint's connect + read timeout, so it cannot
expire while a refresh is still waiting for the provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from bff.conf import bff_settings
from bff.exceptions import LockTimeout
from bff.locks.base import RefreshLock
from oidc.conf import oidc_settings

# How often a waiter asks again whether the lock is free.
POLL_SECONDS = 0.01


class RedisLock(RefreshLock):
    def __init__(self) -> None:
        self.client = redis.Redis.from_url(
            bff_settings.BFF_LOCK_REDIS_URL, socket_timeout=5, socket_connect_timeout=2
        )
        connect, read = oidc_settings.OIDC_HTTP_TIMEOUT
        self.ttl = connect + read + 10

    @contextmanager
    def hold(self, session_id: str, wait: float) -> Iterator[None]:
        lock = self.client.lock(
            f"bff:refresh-lock:{session_id}",
            timeout=self.ttl,
            sleep=POLL_SECONDS,
            blocking_timeout=wait,
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError as exc:
            raise LockTimeout(f"redis unavailable: {type(exc).__name__}") from exc
        if not acquired:
            raise LockTimeout(f"waited {wait}s for the refresh lock")
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.RedisError:  # LockError included
                pass  # expired or unreachable: the key expires on its own after ttl
