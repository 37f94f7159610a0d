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
from bff.stores import cache_store
from oidc import clock

SALT = "accounts.login_state"
# Sign-ins a browser may start within LOOP_WINDOW_SECONDS before a page stops the loop.
LOOP_LIMIT = 5
LOOP_WINDOW_SECONDS = 60
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
    # A step-up (bff.step_up): what the new ID token must show; empty / None when not asked.
    acr_values: str = ""
    max_age: int | None = None

    @property
    def steps_up(self) -> bool:
        return bool(self.acr_values) or self.max_age is not None


def cookie_name() -> str:
    return "__Host-bff_signin" if settings.SESSION_COOKIE_SECURE else "bff_signin"


def _ttl() -> int:
    return int(accounts_settings.OIDC_LOGIN_STATE_TTL_SECONDS)


def _load(request: HttpRequest) -> tuple[dict[str, dict[str, Any]], list[float]]:
    """This browser's pending sign-ins that have not expired, and its recent starts."""
    if hasattr(request, "_pending_sign_ins"):
        return request._pending_sign_ins, request._sign_in_starts
    raw = request.COOKIES.get(cookie_name())
    loaded: Any = {}
    if raw:
        try:
            loaded = signing.loads(raw, salt=SALT, max_age=max(_ttl(), LOOP_WINDOW_SECONDS))
        except signing.BadSignature:
            loaded = {}
    if not isinstance(loaded, dict):
        loaded = {}
    now = clock.now()
    pending = loaded.get("p") if isinstance(loaded.get("p"), dict) else {}
    starts = loaded.get("s") if isinstance(loaded.get("s"), list) else []
    request._pending_sign_ins = {
        state: entry
        for state, entry in pending.items()
        if isinstance(entry, dict)
        and isinstance(entry.get("created_at"), int | float)
        and now - entry["created_at"] < _ttl()
    }
    request._sign_in_starts = [
        t for t in starts if isinstance(t, int | float) and now - t < LOOP_WINDOW_SECONDS
    ]
    return request._pending_sign_ins, request._sign_in_starts


def _entries(request: HttpRequest) -> dict[str, dict[str, Any]]:
    return _load(request)[0]


def looping(request: HttpRequest) -> bool:
    """This browser started LOOP_LIMIT sign-ins within the last minute: something sends it
    round in circles, and a page should stop it instead of another redirect."""
    return len(_load(request)[1]) >= LOOP_LIMIT


def remember(request: HttpRequest, pending: PendingSignIn) -> None:
    """Add a started sign-in; `write()` puts it in the response."""
    entries, starts = _load(request)
    entries[pending.state] = asdict(pending)
    limit = accounts_settings.OIDC_MAX_PENDING_LOGINS
    newest = sorted(entries.items(), key=lambda item: item[1]["created_at"])[-limit:]
    request._pending_sign_ins = dict(newest)
    starts.append(pending.created_at)
    request._pending_sign_ins_changed = True


def pop(request: HttpRequest, state: str | None) -> PendingSignIn | None:
    """Take the sign-in started with `state` (single use); None when unknown or used."""
    entries = _entries(request)
    if not state or not isinstance(state, str) or state not in entries:
        return None
    entry = entries.pop(state)
    request._pending_sign_ins_changed = True
    used = "accounts:state-used:" + hashlib.sha256(state.encode()).hexdigest()
    # A cache outage (None): the cookie update alone makes it single-use.
    first_use = cache_store.call("state_used", cache.add, used, True, timeout=_ttl())
    if first_use is None:
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
    entries, starts = _load(request)
    entries = dict(sorted(entries.items(), key=lambda item: item[1]["created_at"]))
    name = cookie_name()
    while entries or starts:
        value = signing.dumps({"p": entries, "s": starts}, salt=SALT, compress=True)
        if len(value) <= MAX_COOKIE_BYTES:
            response.set_cookie(
                name,
                value,
                max_age=max(_ttl(), LOOP_WINDOW_SECONDS),
                path="/",
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
            return response
        if not entries:
            break
        entries.pop(next(iter(entries)))
    response.delete_cookie(name, path="/", samesite="Lax")
    return response


def finish(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """A sign-in succeeded: no loop; keep only the other tabs' pending sign-ins."""
    if hasattr(request, "_sign_in_starts") or request.COOKIES.get(cookie_name()):
        _load(request)[1].clear()
        request._pending_sign_ins_changed = True
    return write(request, response)
