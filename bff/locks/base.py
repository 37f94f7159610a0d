"""The lock backend interface: hold a per-session lock around a refresh, bounded wait."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager

from django.utils.module_loading import import_string

from bff.conf import bff_settings


class RefreshLock(ABC):
    """Mutual exclusion per session id across threads, processes and hosts."""

    @abstractmethod
    def hold(self, session_id: str, wait: float) -> AbstractContextManager[None]:
        """Hold the lock for `session_id`; raise LockTimeout after `wait` seconds."""

    def __repr__(self) -> str:
        return type(self).__name__


_instances: dict[str, RefreshLock] = {}
_guard = threading.Lock()


def get_lock() -> RefreshLock:
    """The configured backend, one instance per process (it may hold a connection pool)."""
    path = bff_settings.BFF_LOCK_BACKEND
    lock = _instances.get(path)
    if lock is None:
        with _guard:
            lock = _instances.get(path) or import_string(path)()
            _instances[path] = lock
    return lock


def iter_backoff(first: float = 0.005, limit: float = 0.05) -> Iterator[float]:
    """Poll delays for waiters: short at first, then capped."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, limit)
