"""The public service API of the token sessions: start, find, end.

The Django session holds only the record's id under SESSION_KEY; tokens never go into
request.session, because Django writes the whole session back at the end of a request
and an older request would put an old refresh token back. Apps above call these
functions; what happens to sessions is announced through bff.signals.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, login, logout
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_module

from bff import record_cache
from bff.addresses import client_address
from bff.conf import bff_settings
from bff.exceptions import (
    IdentityMismatch,
    LockTimeout,
    NotSignedIn,
    SessionEnded,
    TokensUnreadable,
)
from bff.locks import get_lock
from bff.models import TokenSession, UpstreamToken
from bff.signals import EndedSession, session_ended, session_started, session_stepped_up
from bff.stores import database_store
from oidc import clock
from oidc.client import revoke
from oidc.provider import get_provider
from oidc.tokens import TokenSet

logger = logging.getLogger(__name__)

SESSION_KEY = "bff_token_session"
# Why this browser's last session ended, when someone or something else ended it; kept in
# the (new, anonymous) Django session until the browser signs in again.
ENDED_REASON_KEY = "bff_ended_reason"
Reason = TokenSession.EndReason


def current(request: HttpRequest) -> TokenSession | None:
    """The request's live session record (fresh tokens), as the middleware left it."""
    return getattr(request, "token_session", None)


def start(
    request: HttpRequest,
    *,
    user: Any,
    provider: str,
    issuer: str,
    subject: str,
    sid: str,
    tokens: TokenSet,
) -> TokenSession:
    """Sign the browser in as `user` with a new session record holding `tokens`.

    Logs the user in (a new session key), ends and revokes the browser's previous session
    if it had one, stores the record and puts its id (only) in the Django session.
    """
    previous = _live_record(request.session.get(SESSION_KEY))
    login(request, user)
    # login() keeps the key when the same user signs in again: a new key on every sign-in.
    request.session.cycle_key()
    request.session.pop(ENDED_REASON_KEY, None)
    if previous is not None:
        end(previous, Reason.REPLACED, request=request)
    record = TokenSession(
        user=user,
        provider=provider,
        issuer=issuer,
        subject=subject,
        sid=sid,
        last_seen_at=clock.now_datetime(),
        ip_address=client_address(request) or None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
        browser_key=request.session.session_key or "",
    )
    record.set_tokens(tokens)
    record.save(force_insert=True)
    request.session[SESSION_KEY] = str(record.pk)
    request.token_session = record
    session_started.send(sender=TokenSession, record=record, request=request)
    return record


def replace_tokens(
    record: TokenSession,
    tokens: TokenSet,
    *,
    issuer: str,
    subject: str,
    acr: str = "",
    request: HttpRequest | None = None,
) -> TokenSession:
    """Keep the session, replace its tokens with those of a new sign-in of the same person
    (step-up authentication); returns the record as stored.

    Written under the record's refresh lock, as a rotation is, so no refresh in flight writes
    older tokens over them. Raises IdentityMismatch when the sign-in names someone else (or
    another provider), SessionEnded when the record ended meanwhile, LockTimeout when it could
    not be written now. The Django session gets a new key (the sign-in grew stronger).
    """
    from bff.refresh import store_tokens  # bff.refresh uses this module's end_sessions

    if (issuer, subject) != (record.issuer, record.subject):
        raise IdentityMismatch
    previous = ""
    with get_lock().hold(str(record.pk), wait=bff_settings.BFF_LOCK_WAIT_SECONDS):
        latest = TokenSession.objects.select_related("user").filter(pk=record.pk).first()
        if latest is None or not latest.is_live:
            stored: TokenSession | Exception = SessionEnded(latest.end_reason if latest else "")
        else:
            previous = _refresh_token_of(latest)
            stored = store_tokens(latest, tokens)
            if stored is not latest:
                stored = stored if isinstance(stored, Exception) else LockTimeout("write lost")
    if isinstance(stored, Exception):
        raise stored
    if request is not None:
        request.session.cycle_key()
        request.token_session = stored
    if previous and previous != tokens.refresh_token:
        # The replaced grant is of no more use to anyone: best effort, as at sign-out.
        revoke(get_provider(stored.provider), previous)
    logger.info("session=%s tokens replaced by a step-up version=%d", stored.pk, stored.version)
    session_stepped_up.send(sender=TokenSession, record=stored, request=request, acr=acr)
    return stored


def _live_record(record_id: Any) -> TokenSession | None:
    if not record_id:
        return None
    try:
        return TokenSession.objects.live().filter(pk=record_id).first()
    except (ValueError, TypeError, ValidationError):
        return None


def sign_out_ended(request: HttpRequest, reason: str) -> None:
    """Sign this browser out of a session that was ended (here or elsewhere) and remember
    why: its tabs are told, and its next sign-in asks the provider to authenticate again."""
    logout(request)
    request.session[ENDED_REASON_KEY] = reason or "ended"


def ended_reason(request: HttpRequest) -> str | None:
    """Why this browser's session was ended elsewhere, until it signs in again."""
    reason = request.session.get(ENDED_REASON_KEY)
    return reason if isinstance(reason, str) else None


def load_session(record_id: str, loaded: TokenSession | None = None) -> TokenSession:
    """The live record with its user, or SessionEnded: `loaded` when the session engine read
    it with the session (bff.session_store: from the shared cache, or joined in the session's
    query), else one query."""
    if isinstance(loaded, record_cache.Ended):
        raise SessionEnded(str(loaded) or "ended")
    if loaded is not None and str(loaded.pk) == str(record_id):
        if not loaded.is_live:
            raise SessionEnded(loaded.end_reason)
        return loaded
    try:
        record = TokenSession.objects.select_related("user").get(pk=record_id)
    except (TokenSession.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise SessionEnded("unknown") from exc
    database_store.answered()
    if not record.is_live:
        raise SessionEnded(record.end_reason)
    record_cache.add(record)
    return record


def django_session(session_key: str | None) -> SessionBase:
    """The Django session of a cookie's key, outside a request (a WebSocket handshake)."""
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key or None)


def record_of(session: SessionBase, now: float) -> TokenSession:
    """The live record a Django session points to, its limits checked; NotSignedIn when it
    points to none, SessionEnded when it is over."""
    record_id = session.get(SESSION_KEY)
    if record_id is None:
        raise NotSignedIn()
    record = load_session(record_id, getattr(session, "record", None))
    check_limits(record, now)
    return record


def is_session_user(session: SessionBase, record: TokenSession, *, renew: bool = True) -> bool:
    """The Django session's user is the record's, still active, with a valid auth hash.

    As django.contrib.auth.get_user: a hash made with a key of SECRET_KEY_FALLBACKS is
    accepted and (with `renew`, where a new cookie can be sent) replaced by the current
    key's, so rotating SECRET_KEY signs nobody out.
    """
    user = record.user
    if str(session.get(AUTH_SESSION_KEY)) != str(record.user_id) or not user.is_active:
        return False
    stored = session.get(HASH_SESSION_KEY, "")
    current = user.get_session_auth_hash()
    if constant_time_compare(stored, current):
        return True
    for fallback in settings.SECRET_KEY_FALLBACKS:
        if constant_time_compare(stored, user._get_session_auth_hash(secret=fallback)):
            if renew:
                session.cycle_key()
                session[HASH_SESSION_KEY] = current
                record.browser_key = session.session_key
                _only(record).update(browser_key=record.browser_key)
            return True
    return False


def ended_among(record_ids: list[str], *, database: bool = False) -> dict[str, str]:
    """Which of these records are over, with why: one round trip to the shared cache's ended
    marks where records are cached, else (or with `database`) one query. For open streams,
    polled; the database now and then too, for a mark the cache missed (a Redis blip)."""
    marks = None if database else record_cache.ended_marks(record_ids)
    if marks is not None:
        return marks
    try:
        rows = TokenSession.objects.filter(pk__in=record_ids).values_list(
            "pk", "ended_at", "end_reason"
        )
        known = {str(pk): (ended_at, reason) for pk, ended_at, reason in rows}
    except (DatabaseError, ValidationError) as exc:  # a store outage ends nothing
        database_store.failed("ended_among", exc)
        return {}
    ended: dict[str, str] = {}
    for pk in record_ids:
        ended_at, reason = known.get(pk, (True, "unknown"))
        if ended_at is not None:
            ended[pk] = reason or "ended"
    return ended


def check_limits(record: TokenSession, now: float, request: HttpRequest | None = None) -> None:
    """End the record when its absolute lifetime or idle timeout has passed."""
    if now - record.created_at.timestamp() > bff_settings.BFF_SESSION_MAX_AGE_SECONDS:
        end_sessions(_only(record), Reason.MAX_AGE, request=request)
        raise SessionEnded(Reason.MAX_AGE)
    if now - record.last_seen_at.timestamp() > bff_settings.BFF_SESSION_IDLE_SECONDS:
        end_sessions(_only(record), Reason.IDLE, request=request)
        raise SessionEnded(Reason.IDLE)


def touch(record: TokenSession, now: float) -> None:
    """Write last_seen_at at most once per BFF_LAST_SEEN_INTERVAL_SECONDS."""
    if now - record.last_seen_at.timestamp() >= bff_settings.BFF_LAST_SEEN_INTERVAL_SECONDS:
        seen = clock.now_datetime()
        # Live rows only, and the cache refreshed only from a live row: a copy of a session
        # ended meanwhile is never written back.
        try:
            updated = TokenSession.objects.filter(pk=record.pk, ended_at__isnull=True).update(
                last_seen_at=seen
            )
        except DatabaseError as exc:  # served from the cache: last-seen can wait
            database_store.failed("touch", exc)
            return
        if updated:
            record.last_seen_at = seen
            record_cache.put(record)


def _only(record: TokenSession) -> QuerySet[TokenSession]:
    return TokenSession.objects.filter(pk=record.pk)


def end_sessions(
    queryset: QuerySet[TokenSession],
    reason: str,
    *,
    request: HttpRequest | None = None,
    by: Any = None,
    everywhere_now: bool = False,
) -> int:
    """Mark every live record of the queryset ended and announce it; returns how many.

    `everywhere_now`: the shared cache must take the ended marks at once, or
    StoreUnavailable (the caller's transaction then rolls the end back).
    """
    live = list(
        queryset.filter(ended_at__isnull=True).values_list(
            "pk", "user_id", "provider", "browser_key"
        )
    )
    ids = [pk for pk, *_ in live]
    ended = TokenSession.objects.filter(pk__in=ids, ended_at__isnull=True).update(
        ended_at=clock.now_datetime(), end_reason=reason
    )
    # Marked by browser (what requests read) and by record (what open streams poll).
    marks = [*(str(pk) for pk in ids), *(key for *_, key in live)]
    record_cache.mark_ended(marks, reason, now=everywhere_now)
    if ids:
        # Tokens minted for upstreams end with their session.
        UpstreamToken.objects.filter(session_id__in=ids).delete()
    if ended:
        logger.info("ended sessions=%d reason=%s", ended, reason)
        sessions = [EndedSession(str(pk), user_id, provider) for pk, user_id, provider, _ in live]
        session_ended.send(
            sender=TokenSession, sessions=sessions, reason=reason, request=request, by=by
        )
    return ended


def end(
    record: TokenSession, reason: str, *, request: HttpRequest | None = None, by: Any = None
) -> None:
    """End one record under its refresh lock, then revoke its newest refresh token and the
    tokens minted for its upstreams.

    Taking the lock serialises this with an in-flight refresh: either the refresh finishes
    first and we revoke the token it stored, or it finds the record ended.
    """
    refresh_token = ""
    minted: list[str] = []
    try:
        with get_lock().hold(str(record.pk), wait=bff_settings.BFF_LOCK_WAIT_SECONDS):
            refresh_token = _refresh_token_of(_only(record).first())
            minted = _upstream_tokens_of(record)
            end_sessions(_only(record), reason, request=request, by=by)
    except LockTimeout:
        # Ending locally matters more than the lock: do it anyway.
        minted = _upstream_tokens_of(record)
        end_sessions(_only(record), reason, request=request, by=by)
        refresh_token = _refresh_token_of(_only(record).first())
    try:
        provider = get_provider(record.provider)
    except KeyError:
        return  # provider no longer configured
    if refresh_token:
        revoke(provider, refresh_token)
    for access_token in minted:
        revoke(provider, access_token, "access_token")


def _refresh_token_of(record: TokenSession | None) -> str:
    try:
        return record.tokens.refresh_token if record is not None else ""
    except TokensUnreadable:
        return ""  # sealed with a key no longer configured: nothing we can revoke


def _upstream_tokens_of(record: TokenSession) -> list[str]:
    tokens = []
    for row in UpstreamToken.objects.filter(session_id=record.pk):
        try:
            tokens.append(row.tokens.access_token)
        except TokensUnreadable:
            pass  # sealed with a key no longer configured: nothing we can revoke
    return tokens


def end_matching(
    issuer: str, *, sid: str | None, subject: str | None, request: HttpRequest | None = None
) -> int:
    """End every live session of `issuer` matching `sid` and/or `subject` (back-channel
    logout, on every host at once: one UPDATE, and the cache's ended marks written before
    it commits); returns how many. StoreUnavailable (nothing ended) when the shared cache
    cannot take the marks: the provider is to retry (Back-Channel Logout 1.0, 2.8)."""
    if not sid and not subject:
        return 0
    matching = TokenSession.objects.filter(issuer=issuer)
    if sid:
        matching = matching.filter(sid=sid)
    if subject:
        matching = matching.filter(subject=subject)
    with transaction.atomic():
        return end_sessions(matching, Reason.BACKCHANNEL, request=request, everywhere_now=True)


def live_sessions_for(user: Any) -> QuerySet[TokenSession]:
    return TokenSession.objects.live().filter(user=user)


def _limits(now: datetime) -> tuple[datetime, datetime]:
    """(created before, last seen before): past either, a record is over."""
    return (
        now - timedelta(seconds=bff_settings.BFF_SESSION_MAX_AGE_SECONDS),
        now - timedelta(seconds=bff_settings.BFF_SESSION_IDLE_SECONDS),
    )


def end_expired() -> int:
    """End the live records past their absolute or idle limit that nobody came back to end
    (manage.py purge_sessions); returns how many."""
    oldest, idle_since = _limits(clock.now_datetime())
    live = TokenSession.objects.live()
    return end_sessions(live.filter(created_at__lt=oldest), Reason.MAX_AGE) + end_sessions(
        live.filter(last_seen_at__lt=idle_since), Reason.IDLE
    )


def live_session_counts() -> dict[str, int]:
    """Live sessions (not ended, within their limits) by provider, in one query."""
    oldest, idle_since = _limits(clock.now_datetime())
    live = TokenSession.objects.live().filter(created_at__gte=oldest, last_seen_at__gte=idle_since)
    return dict(live.order_by().values_list("provider").annotate(count=Count("pk")))
