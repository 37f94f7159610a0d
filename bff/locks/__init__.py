"""Single-flight refresh locks, one backend chosen by the BFF_LOCK_BACKEND dotted path."""

from __future__ import annotations

from bff.locks.base import RefreshLock, get_lock

__all__ = ["RefreshLock", "get_lock"]
