"""Redis lock: SET key token NX PX ttl, released only by its holder (compare-and-delete).

The lock lives longer than the token endpoint's connect + read timeout, so it cannot
expire while a refresh is still waiting for the provider.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from accounts.conf import accounts_settings
from bff.conf import bff_settings
from bff.exceptions import LockTimeout
from bff.locks.base import RefreshLock, iter_backoff

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLock(RefreshLock):
    def __init__(self) -> None:
        self.client = redis.Redis.from_url(
            bff_settings.BFF_LOCK_REDIS_URL, socket_timeout=5, socket_connect_timeout=2
        )
        self._release = self.client.register_script(_RELEASE)
        connect, read = accounts_settings.OIDC_HTTP_TIMEOUT
        self.ttl_ms = int((connect + read + 10) * 1000)

    @contextmanager
    def hold(self, session_id: str, wait: float) -> Iterator[None]:
        key = f"bff:refresh-lock:{session_id}"
        token = secrets.token_hex(16)
        deadline = time.monotonic() + wait
        delays = iter_backoff()
        try:
            while not self.client.set(key, token, nx=True, px=self.ttl_ms):
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"waited {wait}s for the refresh lock")
                time.sleep(next(delays))
        except redis.RedisError as exc:
            raise LockTimeout(f"redis unavailable: {type(exc).__name__}") from exc
        try:
            yield
        finally:
            try:
                self._release(keys=[key], args=[token])
            except redis.RedisError:
                pass  # the key expires on its own after ttl
