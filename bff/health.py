"""Readiness of the stores the BFF works on, for /readyz: each check in its own thread with
a deadline, so a store that stopped answering costs the probe its timeout, never a worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import caches
from django.db import connection

from bff.conf import bff_settings
from bff.locks import get_lock
from bff.locks.redis import RedisLock

# What a check that answered says.
OK = "ok"
TIMEOUT = "timeout"
_PER_PROCESS_CACHES = ("LocMemCache", "DummyCache")


@dataclass
class Readiness:
    """Each check's result ("ok", "timeout" or the error's type), and what that decides."""

    checks: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()

    @property
    def failed(self) -> list[str]:
        return [name for name, result in self.checks.items() if result != OK]

    @property
    def ready(self) -> bool:
        return not any(name in self.required for name in self.failed)


def _database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # this thread's own connection


def _cache() -> None:
    caches["default"].get("bff:readyz")


def _lock_redis() -> None:
    get_lock().client.ping()  # type: ignore[attr-defined]


def checks() -> dict[str, Callable[[], None]]:
    """The checks that apply here: the database always; the cache when it is shared (Redis,
    memcached); the lock's Redis when BFF_LOCK_BACKEND is the Redis lock."""
    found: dict[str, Callable[[], None]] = {"database": _database}
    if not settings.CACHES["default"]["BACKEND"].endswith(_PER_PROCESS_CACHES):
        found["cache"] = _cache
    if issubclass(bff_settings.BFF_LOCK_BACKEND, RedisLock):
        found["lock_redis"] = _lock_redis
    return found


def readiness() -> Readiness:
    """Run the checks at once, each bounded by BFF_READY_TIMEOUT_SECONDS."""
    results: dict[str, str] = {}
    done = threading.Condition()

    def run(name: str, check: Callable[[], None]) -> None:
        try:
            check()
            result = OK
        except Exception as exc:  # any failure of a store is its answer
            result = type(exc).__name__
        with done:
            results[name] = result
            done.notify_all()

    found = checks()
    for name, check in found.items():
        # Daemon threads: one stuck on a dead store ends with its socket timeout, and never
        # holds up the worker's exit.
        threading.Thread(target=run, args=(name, check), daemon=True, name=f"readyz-{name}").start()
    with done:
        done.wait_for(lambda: len(results) == len(found), bff_settings.BFF_READY_TIMEOUT_SECONDS)
        checks_seen = {name: results.get(name, TIMEOUT) for name in found}
    return Readiness(checks_seen, tuple(bff_settings.BFF_READY_REQUIRED_CHECKS))
