"""Throttle failed sign-ins per account and per client IP, with counters in the idp's cache.

A failure counts against the account's email (normalized, so letter case and surrounding
spaces make no difference, and whether or not an account has it) and against the client IP.
A counter starts at its first failure and lasts one window; reaching its limit blocks that
account or IP for one window from then. Counters use cache.add() and cache.incr(), atomic in
the Redis and Memcached backends, so a shared cache gives one count for every process.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from idp.models import normalize_email

logger = logging.getLogger(__name__)

KEY_PREFIX = "idp-signin"


def now() -> float:
    """The throttle's clock, in seconds since the epoch."""
    return time.time()


def seconds_left(blocked_until: float, at: float) -> int:
    """Whole seconds from `at` until `blocked_until`, 0 once it has passed."""
    return max(0, math.ceil(blocked_until - at))


def client_ip(request: HttpRequest) -> str:
    """The peer address; like the rest of the provider, no forwarded header is trusted."""
    return request.META.get("REMOTE_ADDR", "")


def _key(kind: str, value: str) -> str:
    # Hashed: no email address in the cache, and a valid key for every cache backend.
    return f"{KEY_PREFIX}:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def _subjects(request: HttpRequest, email: str | None) -> list[tuple[str, str, int]]:
    """What a sign-in counts against: (kind, key, failure limit) for the IP and the account."""
    subjects = [("ip", _key("ip", client_ip(request)), settings.IDP_SIGNIN_MAX_FAILURES_PER_IP)]
    account = normalize_email(email or "")
    if account:
        limit = settings.IDP_SIGNIN_MAX_FAILURES_PER_ACCOUNT
        subjects.append(("account", _key("account", account), limit))
    return subjects


def retry_after(request: HttpRequest, email: str | None) -> int:
    """Seconds before a sign-in with this email from this client may be tried; 0: now."""
    keys = [f"{key}:blocked" for _kind, key, _limit in _subjects(request, email)]
    blocked_until = max(cache.get_many(keys).values(), default=0.0)
    return seconds_left(blocked_until, now())


def _count_failure(key: str, window: int) -> int:
    """Add a failure to a counter that expires one window after its first failure."""
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout=window)
        return 1


def record_failure(request: HttpRequest, email: str | None) -> None:
    """Count a failed sign-in; block the account or IP whose limit it reaches."""
    window = settings.IDP_SIGNIN_FAILURE_WINDOW_SECONDS
    for kind, key, limit in _subjects(request, email):
        if _count_failure(f"{key}:failures", window) >= limit:
            cache.set(f"{key}:blocked", now() + window, timeout=window)
            # Counting starts afresh once the block is over.
            cache.delete(f"{key}:failures")
            logger.warning("Sign-in blocked for %s s: too many failures for one %s", window, kind)


def reset_account(email: str) -> None:
    """Forget the failures counted against this account."""
    cache.delete(f"{_key('account', normalize_email(email))}:failures")


def record_failed_sign_in(
    sender: str, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Receiver of user_login_failed: count the failure (password checks with a request)."""
    if request is not None:
        record_failure(request, credentials.get("email"))


def reset_after_sign_in(sender: type, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Receiver of user_logged_in: a successful sign-in clears its account's failures."""
    reset_account(user.email)
