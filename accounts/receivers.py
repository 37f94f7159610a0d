"""The audit log, written from what Django's auth and the gateway announce.

Connected in AccountsConfig.ready. The gateway never imports this app: it sends
bff.signals, and these receivers turn them into AuditEvent rows.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from accounts import audit
from accounts.backends import UNKNOWN_STATE
from accounts.models import AuditEvent, User
from accounts.throttle import log_noise
from bff.models import TokenSession
from bff.signals import session_ended, session_stepped_up

Kind = AuditEvent.Kind
Reason = TokenSession.EndReason

# The audit kind of each way a session ends. A back-channel logout is audited once per
# logout token by its view (with the number of sessions it ended), so not here.
END_KINDS: dict[str, Kind] = {
    Reason.LOGOUT: Kind.SIGN_OUT,
    Reason.ENDED_BY_USER: Kind.SESSION_ENDED_BY_USER,
    Reason.ENDED_BY_ADMIN: Kind.SESSION_ENDED_BY_ADMIN,
    Reason.IDLE: Kind.SESSION_EXPIRED,
    Reason.MAX_AGE: Kind.SESSION_EXPIRED,
    Reason.NO_REFRESH_TOKEN: Kind.SESSION_EXPIRED,
    Reason.REFRESH_REJECTED: Kind.SESSION_ENDED,
    Reason.IDENTITY_CHANGED: Kind.SESSION_ENDED,
    Reason.REPLACED: Kind.SESSION_ENDED,
    Reason.ACCOUNT_DISABLED: Kind.SESSION_ENDED,
    Reason.CREDENTIALS_CHANGED: Kind.SESSION_ENDED,
}
# Kinds whose row says why in `reason` (the others say it in their kind).
_REASON_KINDS = frozenset({Kind.SESSION_EXPIRED, Kind.SESSION_ENDED})


@receiver(user_logged_in, dispatch_uid="accounts.audit_sign_in")
def audit_sign_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    sign_in = getattr(user, "oidc_sign_in", None)
    provider = sign_in.provider.name if sign_in is not None else ""
    audit.record(Kind.SIGN_IN, request, user=user, provider=provider)


@receiver(user_login_failed, dispatch_uid="accounts.audit_sign_in_failed")
def audit_sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    failure = getattr(request, "sign_in_failure", None)
    provider = getattr(credentials.get("provider"), "name", "")
    reason = failure.reason if failure is not None else "invalid_credentials"
    if reason == UNKNOWN_STATE:
        # A callback nobody started here is noise anyone can send: logged at a bounded
        # rate, never an audit row per request.
        log_noise("unknown_state", "provider=%s", provider)
        return
    audit.record(Kind.SIGN_IN_FAILED, request, provider=provider, reason=reason)


@receiver(session_ended, dispatch_uid="accounts.audit_sessions_ended")
def audit_sessions_ended(
    sender: Any, sessions: list, reason: str, request: Any = None, by: Any = None, **kwargs: Any
) -> None:
    kind = END_KINDS.get(reason)
    if kind is None:
        return
    users = User.objects.in_bulk({s.user_id for s in sessions})
    note = (
        reason
        if kind in _REASON_KINDS
        else f"by {by}"
        if kind == Kind.SESSION_ENDED_BY_ADMIN
        else ""
    )
    for ended in sessions:
        audit.record(
            kind, request, user=users.get(ended.user_id), provider=ended.provider, reason=note
        )


@receiver(session_stepped_up, dispatch_uid="accounts.audit_step_up")
def audit_step_up(
    sender: Any, record: Any, request: Any = None, acr: str = "", **kwargs: Any
) -> None:
    audit.record(
        Kind.STEP_UP,
        request,
        user=record.user,
        provider=record.provider,
        reason=f"acr={acr}" if acr else "",
    )
