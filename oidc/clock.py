"""The one clock of the token lifecycle, so tests can move time."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    """Seconds since the epoch."""
    return time.time()


def now_datetime() -> datetime:
    return datetime.fromtimestamp(now(), tz=UTC)
