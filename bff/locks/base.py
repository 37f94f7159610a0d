"""The lock backend interface: hold a per-session lock around a refresh, bounded wait."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager

from bff.conf import bff_settings


class Held:
    """A lock while it is held. `lost()` says whether it may have passed to someone else
    (it expired, or its store cannot confirm it): the holder must then not act on it."""

    def lost(self) -> bool:
        return False


class RefreshLock(ABC):
    """Mutual exclusion per session id across threads, processes and hosts."""

    @abstractmethod
    def hold(self, session_id: str, wait: float) -> AbstractContextManager[Held]:
        """Hold the lock for `session_id`; raise LockTimeout after `wait` seconds."""

    def __repr__(self) -> str:
        return type(self).__name__


_instances: dict[type[RefreshLock], RefreshLock] = {}
_guard = threading.Lock()


def get_lock() -> RefreshLock:
    """The configured backend, one instance per process (it may hold a connection pool)."""
    backend = bff_settings.BFF_LOCK_BACKEND
    lock = _instances.get(backend)
    if lock is None:
        with _guard:
            lock = _instances.get(backend) or backend()
            _instances[backend] = lock
    return lock
