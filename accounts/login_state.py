"""Sign-ins in flight: state, nonce and PKCE verifier per started sign-in.

Kept in a short-lived signed cookie keyed by state, not in a session row: a visitor who
only starts a sign-in leaves nothing in the database. Two tabs can each finish their own;
a state is single-use (popped on callback, and remembered as used in the cache) and
expires after OIDC_LOGIN_STATE_TTL_SECONDS. The cookie is HttpOnly, SameSite=Lax (the
provider's redirect back is a top-level GET), Secure and `__Host-` under HTTPS, and is
deleted when the last pending sign-in is used.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from accounts.conf import accounts_settings
from oidc import clock

SALT = "accounts.login_state"
# Browsers keep cookies up to 4096 bytes; the oldest sign-ins give way beyond this.
MAX_COOKIE_BYTES = 3800


@dataclass(frozen=True)
class PendingSignIn:
    state: str
    nonce: str
    verifier: str
    provider: str
    next: str
    redirect_uri: str
    created_at: float


def cookie_name() -> str:
    return "__Host-bff_signin" if settings.SESSION_COOKIE_SECURE else "bff_signin"


def _ttl() -> int:
    return int(accounts_settings.OIDC_LOGIN_STATE_TTL_SECONDS)


def _entries(request: HttpRequest) -> dict[str, dict[str, Any]]:
    """The pending sign-ins of this browser that have not expired."""
    if hasattr(request, "_pending_sign_ins"):
        return request._pending_sign_ins
    raw = request.COOKIES.get(cookie_name())
    entries: dict[str, dict[str, Any]] = {}
    if raw:
        try:
            loaded = signing.loads(raw, salt=SALT, max_age=_ttl())
        except signing.BadSignature:
            loaded = {}
        if isinstance(loaded, dict):
            now = clock.now()
            entries = {
                state: entry
                for state, entry in loaded.items()
                if isinstance(entry, dict) and now - entry.get("created_at", 0) < _ttl()
            }
    request._pending_sign_ins = entries
    return entries


def remember(request: HttpRequest, pending: PendingSignIn) -> None:
    """Add a started sign-in; `write()` puts it in the response."""
    entries = _entries(request)
    entries[pending.state] = asdict(pending)
    limit = accounts_settings.OIDC_MAX_PENDING_LOGINS
    newest = sorted(entries.items(), key=lambda item: item[1]["created_at"])[-limit:]
    request._pending_sign_ins = dict(newest)
    request._pending_sign_ins_changed = True


def pop(request: HttpRequest, state: str | None) -> PendingSignIn | None:
    """Take the sign-in started with `state` (single use); None when unknown or used."""
    entries = _entries(request)
    if not state or not isinstance(state, str) or state not in entries:
        return None
    entry = entries.pop(state)
    request._pending_sign_ins_changed = True
    used = "accounts:state-used:" + hashlib.sha256(state.encode()).hexdigest()
    try:
        first_use = cache.add(used, True, timeout=_ttl())
    except Exception:  # a cache outage: the cookie update alone makes it single-use
        first_use = True
    if not first_use:
        return None
    try:
        return PendingSignIn(**entry)
    except TypeError:
        return None


def write(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Store what changed in the pending sign-ins on the response's cookie."""
    if not getattr(request, "_pending_sign_ins_changed", False):
        return response
    entries = dict(sorted(_entries(request).items(), key=lambda item: item[1]["created_at"]))
    name = cookie_name()
    while entries:
        value = signing.dumps(entries, salt=SALT, compress=True)
        if len(value) <= MAX_COOKIE_BYTES:
            response.set_cookie(
                name,
                value,
                max_age=_ttl(),
                path="/",
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
            return response
        entries.pop(next(iter(entries)))
    response.delete_cookie(name, path="/", samesite="Lax")
    return response
