"""Creating, loading and ending server-side session records.

The Django session holds only the record's id under SESSION_KEY; tokens never go into
request.session, because Django writes the whole session back at the end of a request
and an older request would put an old refresh token back.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from bff import clock, record_cache
from bff.conf import bff_settings
from bff.exceptions import SessionEnded
from bff.models import TokenSession
from bff.tokens import TokenSet

logger = logging.getLogger(__name__)

SESSION_KEY = "bff_token_session"


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def create_session(
    request: HttpRequest,
    *,
    user: Any,
    provider: str,
    issuer: str,
    subject: str,
    sid: str,
    tokens: TokenSet,
) -> TokenSession:
    """Store a new record for this browser and put its id (only) in the Django session."""
    record = TokenSession(
        user=user,
        provider=provider,
        issuer=issuer,
        subject=subject,
        sid=sid,
        last_seen_at=clock.now_datetime(),
        ip_address=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
    )
    record.set_tokens(tokens)
    record.save(force_insert=True)
    request.session[SESSION_KEY] = str(record.pk)
    return record


def load_session(record_id: str) -> TokenSession:
    """The live record with its user (from the shared cache when it can), or SessionEnded."""
    cached = record_cache.get(record_id)
    if cached is record_cache.ENDED:
        raise SessionEnded("ended")
    if cached is not None:
        return cached
    try:
        record = TokenSession.objects.select_related("user").get(pk=record_id)
    except (TokenSession.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise SessionEnded("unknown") from exc
    if not record.is_live:
        raise SessionEnded(record.end_reason)
    record_cache.add(record)
    return record


def check_limits(record: TokenSession, now: float) -> None:
    """End the record when its absolute lifetime or idle timeout has passed."""
    if now - record.created_at.timestamp() > bff_settings.BFF_SESSION_MAX_AGE_SECONDS:
        end_sessions(TokenSession.objects.filter(pk=record.pk), TokenSession.EndReason.MAX_AGE)
        raise SessionEnded(TokenSession.EndReason.MAX_AGE)
    if now - record.last_seen_at.timestamp() > bff_settings.BFF_SESSION_IDLE_SECONDS:
        end_sessions(TokenSession.objects.filter(pk=record.pk), TokenSession.EndReason.IDLE)
        raise SessionEnded(TokenSession.EndReason.IDLE)


def touch(record: TokenSession, now: float) -> None:
    """Write last_seen_at at most once per BFF_LAST_SEEN_INTERVAL_SECONDS."""
    if now - record.last_seen_at.timestamp() >= bff_settings.BFF_LAST_SEEN_INTERVAL_SECONDS:
        seen = clock.now_datetime()
        TokenSession.objects.filter(pk=record.pk).update(last_seen_at=seen)
        record.last_seen_at = seen
        record_cache.put(record)


def end_sessions(queryset: QuerySet[TokenSession], reason: str) -> int:
    """Mark every live record of the queryset ended; returns how many were live."""
    ids = list(queryset.filter(ended_at__isnull=True).values_list("pk", flat=True))
    ended = TokenSession.objects.filter(pk__in=ids, ended_at__isnull=True).update(
        ended_at=clock.now_datetime(), end_reason=reason
    )
    record_cache.mark_ended(ids)
    if ended:
        logger.info("ended sessions=%d reason=%s", ended, reason)
    return ended


def end_session_and_revoke(record: TokenSession, reason: str) -> None:
    """End one record under its refresh lock, then revoke its newest refresh token.

    Taking the lock serialises this with an in-flight refresh: either the refresh finishes
    first and we revoke the token it stored, or it finds the record ended.
    """
    from accounts.client import revoke
    from accounts.provider import get_provider
    from bff.exceptions import LockTimeout
    from bff.locks import get_lock

    refresh_token = ""
    try:
        with get_lock().hold(str(record.pk), wait=bff_settings.BFF_LOCK_WAIT_SECONDS):
            current = TokenSession.objects.filter(pk=record.pk).first()
            if current is not None:
                refresh_token = current.tokens.refresh_token
            end_sessions(TokenSession.objects.filter(pk=record.pk), reason)
    except LockTimeout:
        # Ending locally matters more than the lock: do it anyway.
        end_sessions(TokenSession.objects.filter(pk=record.pk), reason)
        refresh_token = TokenSession.objects.get(pk=record.pk).tokens.refresh_token
    if refresh_token:
        try:
            revoke(get_provider(record.provider), refresh_token)
        except KeyError:
            pass  # provider no longer configured


def live_sessions_for(user: Any) -> QuerySet[TokenSession]:
    return TokenSession.objects.live().filter(user=user)
