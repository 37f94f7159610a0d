"""What the gateway announces about sessions. Apps above (the audit log) listen; the
gateway never imports them. Each signal is sent with `sender=TokenSession`."""

from __future__ import annotations

from dataclasses import dataclass

from django.dispatch import Signal

# A browser was signed in with a new session record, after login().
# Sent with: record (TokenSession), request.
session_started = Signal()

# A session's tokens were refreshed by the provider and stored (once per rotation).
# Sent with: record (TokenSession, the new version).
session_refreshed = Signal()

# A live session's tokens were replaced by those of a new sign-in of the same person at
# the same provider (step-up authentication), the record kept.
# Sent with: record (TokenSession, the new version), request, acr (the new ID token's, or "").
session_stepped_up = Signal()

# Sessions were ended: signed out, ended by the user or an admin, idle or maximum age,
# refresh rejected, identity changed, back-channel logout, replaced by a new sign-in.
# Sent once per decision, inside its transaction, with: sessions (list of EndedSession that
# were live until now), reason (TokenSession.EndReason value), request (HttpRequest or None:
# the request that made the decision), by (the admin or user who ended them, or None).
session_ended = Signal()


@dataclass(frozen=True)
class EndedSession:
    """Who a just-ended session belonged to."""

    id: str
    user_id: int
    provider: str
