"""Sign-ins in flight: state, nonce and PKCE verifier per started sign-in.

Kept in this browser's session keyed by state, so two tabs can each finish their own;
single-use (popped on callback) and expiring after OIDC_LOGIN_STATE_TTL_SECONDS.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.contrib.sessions.backends.base import SessionBase

from accounts.conf import accounts_settings
from oidc import clock

PENDING_KEY = "oidc_pending"


@dataclass(frozen=True)
class PendingSignIn:
    state: str
    nonce: str
    verifier: str
    provider: str
    next: str
    redirect_uri: str
    created_at: float


def remember(session: SessionBase, pending: PendingSignIn) -> None:
    now = clock.now()
    ttl = accounts_settings.OIDC_LOGIN_STATE_TTL_SECONDS
    entries = {
        state: entry
        for state, entry in session.get(PENDING_KEY, {}).items()
        if now - entry.get("created_at", 0) < ttl
    }
    entries[pending.state] = asdict(pending)
    limit = accounts_settings.OIDC_MAX_PENDING_LOGINS
    newest = sorted(entries.items(), key=lambda item: item[1]["created_at"])[-limit:]
    session[PENDING_KEY] = dict(newest)


def pop(session: SessionBase, state: str | None) -> PendingSignIn | None:
    """Take the sign-in started with `state` out of the session (single use)."""
    entries = session.get(PENDING_KEY, {})
    if not state or not isinstance(state, str) or state not in entries:
        return None
    entry = entries.pop(state)
    session[PENDING_KEY] = entries
    if clock.now() - entry.get("created_at", 0) >= accounts_settings.OIDC_LOGIN_STATE_TTL_SECONDS:
        return None
    return PendingSignIn(**entry)
