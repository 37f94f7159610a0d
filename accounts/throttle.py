"""Limits on what anonymous visitors can make the BFF do: requests per client address in a
fixed window (counted in the cache, shared when it is Redis), and log lines about noise at
a bounded rate instead of an audit row per request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse

from accounts.conf import accounts_settings
from bff.addresses import client_address
from bff.rate_limits import spend
from bff.responses import error

View = TypeVar("View", bound=Callable[..., HttpResponse])

logger = logging.getLogger("accounts.noise")

# Log lines per kind of noise per minute; the rest are counted and summed up.
NOISE_LINES_PER_MINUTE = 10


def over_limit(request: HttpRequest, scope: str) -> int | None:
    """Count this request in `scope` for its client; the seconds to wait when it is over
    the limit (ACCOUNTS_RATE_LIMITS), else None. A cache that fails lets it through."""
    count, window = accounts_settings.ACCOUNTS_RATE_LIMITS[scope]
    return spend(f"accounts:rate:{scope}:{client_address(request) or 'unknown'}", count, window)


class _NoiseLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._minute: dict[str, tuple[int, int]] = {}

    def __call__(self, kind: str, message: str, *args: object) -> None:
        """Log `message` unless this kind of noise has used its lines this minute."""
        minute = int(time.time() // 60)
        with self._lock:
            started, seen = self._minute.get(kind, (minute, 0))
            if started != minute:
                if seen > NOISE_LINES_PER_MINUTE:
                    suppressed = seen - NOISE_LINES_PER_MINUTE
                    logger.warning("noise kind=%s suppressed=%d", kind, suppressed)
                started, seen = minute, 0
            seen += 1
            self._minute[kind] = (started, seen)
        if seen <= NOISE_LINES_PER_MINUTE:
            logger.warning("noise kind=%s " + message, kind, *args)


log_noise = _NoiseLog()


def rate_limited(scope: str) -> Callable[[View], View]:
    """Answer 429 with Retry-After (a page, or JSON for an API view) once the client is
    over the `scope` limit; the view does not run."""

    def decorator(view: View) -> View:
        @wraps(view)
        def limited_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            wait = over_limit(request, scope)
            if wait is None:
                return view(request, *args, **kwargs)
            log_noise("rate_limited", "scope=%s client=%s", scope, client_address(request))
            response = error(
                request,
                429,
                "rate_limited",
                "Too many attempts",
                f"Too many requests from your address. Try again in {wait} seconds.",
            )
            response["Retry-After"] = str(wait)
            return response

        return limited_view  # type: ignore[return-value]

    return decorator
