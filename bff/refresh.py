"""Single-flight token refresh.

`ensure_fresh(record)` returns a record whose access token is fresh enough. When a refresh
is due it takes the session's lock (bff.locks), re-reads the record, and calls the provider
only if nobody refreshed meanwhile; the new tokens are written before the lock is released.
So one refresh grant reaches the provider per rotation, however many requests, threads,
processes and hosts ask at once. See docs/architecture.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connection

from bff import metrics, record_cache, tracing
from bff.conf import bff_settings
from bff.exceptions import LockTimeout, SessionEnded, UpstreamError
from bff.locks import get_lock
from bff.locks.base import Held
from bff.models import TokenSession
from bff.sessions import end_sessions
from bff.signals import session_refreshed
from oidc import client, clock
from oidc.exceptions import (
    InvalidGrant,
    ProviderError,
    ProviderUnavailable,
    TokenValidationError,
)
from oidc.provider import NO_MATCHING_KEY, Provider, get_provider
from oidc.tokens import TokenSet, token_set_from_response
from oidc.validation import validate_id_token

logger = logging.getLogger(__name__)

Reason = TokenSession.EndReason
T = TypeVar("T")
# Pause between two attempts to store a rotation the database did not take.
STORE_RETRY_SECONDS = 0.25


def refresh_threshold(tokens: TokenSet, buffer: float) -> float:
    """Refresh when remaining life drops below min(buffer, half the lifetime)."""
    return min(buffer, tokens.lifetime / 2)


def needs_refresh(tokens: TokenSet, now: float, buffer: float) -> bool:
    return tokens.remaining(now) < refresh_threshold(tokens, buffer)


def _due(tokens: TokenSet, now: float, force: bool, failed_access_token: str | None) -> bool:
    if force:
        # Only the token that failed upstream is worth replacing; a newer one is used as is.
        return tokens.access_token == failed_access_token
    return needs_refresh(tokens, now, bff_settings.BFF_REFRESH_BUFFER_SECONDS)


def _backoff_remaining(record: TokenSession, now: float) -> float:
    if record.refresh_retry_at is None:
        return 0.0
    return max(record.refresh_retry_at.timestamp() - now, 0.0)


def ensure_fresh(
    record: TokenSession, *, force: bool = False, failed_access_token: str | None = None
) -> TokenSession:
    """Return `record` or a newer copy with fresh tokens.

    Raises SessionEnded when the session is over, ProviderUnavailable when a refresh was due
    but could not happen now (the caller may still use a not-yet-expired access token).
    """
    now = clock.now()
    tokens = record.tokens
    if not _due(tokens, now, force, failed_access_token):
        return record
    if not tokens.refresh_token:
        if tokens.is_expired(now):
            end_sessions(TokenSession.objects.filter(pk=record.pk), Reason.NO_REFRESH_TOKEN)
            raise SessionEnded(Reason.NO_REFRESH_TOKEN)
        return record
    wait = _backoff_remaining(record, now)
    if wait:
        metrics.refreshed(record.provider, "backing_off")
        raise ProviderUnavailable("refresh backing off", retry_after=wait)
    return single_flight(
        str(record.pk),
        record.provider,
        lambda held: _under_lock(record, force, failed_access_token, held),
    )


def held_once(key: str, provider: str, work: Callable[[Held], T | Exception]) -> T | Exception:
    """`work(held)` under the refresh lock `key`, its outcome or exception returned, not raised.

    Work that raises inside a database lock would roll back what it wrote (an ended record,
    a backoff): it returns its exception, and the caller raises it once the lock is released.
    """
    waiting = time.monotonic()
    try:
        with get_lock().hold(key, wait=bff_settings.BFF_LOCK_WAIT_SECONDS) as held:
            metrics.lock_waited(waiting)
            return work(held)
    except LockTimeout:
        metrics.lock_waited(waiting)
        metrics.refreshed(provider, "lock_timeout")
        return ProviderUnavailable("timed out waiting for a refresh", retry_after=1)


def single_flight(key: str, provider: str, work: Callable[[Held], T | Exception]) -> T:
    """held_once, its exception raised after the lock is released."""
    outcome = held_once(key, provider, work)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _under_lock(
    record: TokenSession, force: bool, failed_access_token: str | None, held: Held
) -> TokenSession | Exception:
    current = TokenSession.objects.select_related("user").get(pk=record.pk)
    if not current.is_live:
        metrics.refreshed(record.provider, "ended")
        return SessionEnded(current.end_reason)
    now = clock.now()
    if not _due(current.tokens, now, force, failed_access_token):
        metrics.refreshed(record.provider, "shared")
        record_cache.put(current)  # whoever refreshed, later requests start from this
        return current  # a sibling refreshed while we waited
    wait = _backoff_remaining(current, now)
    if wait:
        metrics.refreshed(record.provider, "backing_off")
        return ProviderUnavailable("refresh backing off", retry_after=wait)
    if held.lost():
        # Held past its lifetime (a stalled store): someone else may be refreshing now.
        # Never a second grant; the caller uses its token while valid, then tries again.
        logger.warning("session=%s refresh lock lost before the grant: not refreshing", record.pk)
        metrics.refreshed(record.provider, "lock_lost")
        return ProviderUnavailable("refresh lock lost", retry_after=1)
    return _refresh_locked(current, now)


@tracing.traced("bff.refresh", lambda record, now: {"bff.provider": record.provider}, kind="client")
@metrics.observe_refresh
def _refresh_locked(record: TokenSession, now: float) -> TokenSession | Exception:
    """Call the provider's token endpoint and store the outcome. Caller holds the lock."""
    outcome = refresh_grant(record, now)
    return outcome if isinstance(outcome, Exception) else outcome[0]


def refresh_grant(
    record: TokenSession, now: float, resource: str = ""
) -> tuple[TokenSession, dict[str, Any] | None] | Exception:
    """One refresh grant and its rotation stored; the caller holds the session's lock.

    Returns (the record as now stored, the token response, or None when a sibling's
    rotation is to be used instead). With `resource` (RFC 8707) the response's access token
    is minted for that resource: the session keeps its own access token and takes only the
    rotated refresh (and ID) token; a failure other than invalid_grant is no reason for the
    session to back off.
    """
    previous = record.tokens
    provider = get_provider(record.provider)
    try:
        response = client.refresh(provider, previous.refresh_token, resource=resource)
    except InvalidGrant:
        latest = TokenSession.objects.get(pk=record.pk)
        if latest.is_live and latest.version != record.version:
            return latest, None  # a sibling rotated the token after all: use theirs
        end_sessions(TokenSession.objects.filter(pk=record.pk), Reason.REFRESH_REJECTED)
        logger.info("session=%s refresh rejected by provider: ended", record.pk)
        return SessionEnded(Reason.REFRESH_REJECTED)
    except (ProviderUnavailable, ProviderError) as exc:
        logger.warning("session=%s refresh failed: %s", record.pk, exc)
        if resource:
            return minting_refused(exc)
        _record_failure(record, now)
        return ProviderUnavailable(str(exc), retry_after=_backoff_remaining(record, now))

    received_at = clock.now()
    fresh = token_set_from_response(response, received_at, previous)
    if resource:
        fresh = replace(
            fresh,
            access_token=previous.access_token,
            issued_at=previous.issued_at,
            expires_at=previous.expires_at,
        )
    if response.get("id_token"):
        fresh = _checked_id_token(record, provider, fresh, previous, received_at)
        if isinstance(fresh, Exception):
            return fresh
    if resource and fresh == previous:
        return record, response  # nothing rotated: the session's record stays as it is
    stored = store_tokens(record, fresh)
    if stored is record:
        logger.info("session=%s refreshed version=%d", record.pk, record.version)
        session_refreshed.send(sender=TokenSession, record=record)
    return stored if isinstance(stored, Exception) else (stored, response)


def minting_refused(exc: ProviderError | ProviderUnavailable) -> Exception:
    """What a failed grant for an upstream's own token answers: 503 when the provider is
    down, else 502 (it will not mint one); the session itself is left alone."""
    if isinstance(exc, ProviderUnavailable):
        return exc
    return UpstreamError(
        502, "upstream_token_refused", "The provider would not issue a token for this API."
    )


def store_tokens(record: TokenSession, fresh: TokenSet) -> TokenSession | SessionEnded:
    """Write `fresh` as the record's tokens if it is still the version read, and update the
    record cache; the caller holds the record's refresh lock.

    Returns `record` itself (its version moved on) when written; when the write matched
    nothing, the newer record that won, or SessionEnded.
    """
    fields = record.set_tokens(fresh)
    updated = _store_rotation(record, fields)
    if not updated:
        # Our write lost: the record was ended, or another holder stored a rotation. Only a
        # decision ends a session, never a write that matched nothing: re-read.
        latest = TokenSession.objects.select_related("user").filter(pk=record.pk).first()
        if latest is None:
            return SessionEnded("unknown")
        if not latest.is_live:
            return SessionEnded(latest.end_reason)
        logger.warning("session=%s token write lost to version %d", record.pk, latest.version)
        record_cache.put(latest)
        return latest
    record.version += 1
    record.refresh_failures = 0
    record.refresh_retry_at = None
    record_cache.put(record)
    return record


def _store_rotation(record: TokenSession, fields: list[str]) -> int:
    """Write the new tokens if the record is still the version we read; returns the rows.

    The provider has rotated the refresh token already: these tokens may be the only ones
    that still work. A database that drops the write (a restart, a stalled connection cut)
    is tried again on a new connection, under the lock (the Redis lock is renewed meanwhile),
    for up to BFF_LOCK_WAIT_SECONDS; the write is conditional, so one that did land before
    its answer was lost matches nothing the second time and the caller re-reads.
    """
    deadline = time.monotonic() + bff_settings.BFF_LOCK_WAIT_SECONDS
    while True:
        try:
            return TokenSession.objects.filter(
                pk=record.pk, version=record.version, ended_at__isnull=True
            ).update(
                **{name: getattr(record, name) for name in fields},
                version=record.version + 1,
                refresh_failures=0,
                refresh_retry_at=None,
            )
        except (OperationalError, InterfaceError) as exc:
            # Inside the database lock's transaction nothing can be tried again.
            if connection.in_atomic_block or time.monotonic() >= deadline:
                logger.error("session=%s refreshed tokens not stored: %s", record.pk, exc)
                raise
            logger.warning("session=%s refreshed tokens not stored yet: %s", record.pk, exc)
            connection.close()
            time.sleep(STORE_RETRY_SECONDS)


def _checked_id_token(
    record: TokenSession, provider: Provider, fresh: TokenSet, previous: TokenSet, now: float
) -> TokenSet | SessionEnded:
    """A refreshed ID token must keep iss and sub (Core 12.2); otherwise the session ends."""
    try:
        validate_id_token(
            fresh.id_token, provider, now=now, nonce=None, expected_subject=record.subject
        )
    except TokenValidationError as exc:
        if exc.reason == NO_MATCHING_KEY:
            # A key we cannot fetch yet (a rotation our re-fetch limit held back) is no
            # decision of the provider's: keep the rotated tokens and the previous ID token;
            # the next refresh looks at the keys again.
            logger.warning("session=%s refreshed ID token kept back: unknown key", record.pk)
            return TokenSet(**{**fresh.__dict__, "id_token": previous.id_token})
        end_sessions(TokenSession.objects.filter(pk=record.pk), Reason.IDENTITY_CHANGED)
        logger.warning("session=%s refreshed ID token rejected: %s", record.pk, exc.reason)
        return SessionEnded(Reason.IDENTITY_CHANGED)
    except (ProviderUnavailable, ProviderError) as exc:
        # Keys unreachable: keep the rotated tokens (losing them would end the session)
        # and the ID token we already validated.
        logger.warning("session=%s refreshed ID token kept back: %s", record.pk, exc)
        return TokenSet(**{**fresh.__dict__, "id_token": previous.id_token})
    return fresh


def _record_failure(record: TokenSession, now: float) -> None:
    failures = record.refresh_failures + 1
    delay = min(
        bff_settings.BFF_REFRESH_BACKOFF_SECONDS * 2 ** (failures - 1),
        bff_settings.BFF_REFRESH_BACKOFF_MAX_SECONDS,
    )
    record.refresh_failures = failures
    record.refresh_retry_at = clock.now_datetime() + timedelta(seconds=delay)
    if TokenSession.objects.filter(pk=record.pk, ended_at__isnull=True).update(
        refresh_failures=failures, refresh_retry_at=record.refresh_retry_at
    ):
        record_cache.put(record)
