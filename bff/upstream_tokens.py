"""Tokens minted for one upstream (its audience), kept per session, refreshed single-flight.

An upstream configured with an `audience` (bff/audiences.py) gets its own access token:
by the refresh grant with a resource indicator (RFC 8707; the provider may rotate the
session's refresh token, so that grant runs under the session's lock too) or by a token
exchange of the user's access token (RFC 8693). Each is stored encrypted in an
UpstreamToken row keyed by (session, upstream) and only ever read for that upstream. Its
refresh follows bff.refresh: a lock per (session, upstream), a re-read under it, one
grant per rotation however many calls wait. Ending the session deletes the rows
(bff.sessions.end_sessions); bff.sessions.end also revokes the tokens.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F

from bff.audiences import EXCHANGE, Audience
from bff.conf import bff_settings
from bff.exceptions import SessionEnded, UpstreamError
from bff.locks.base import Held
from bff.models import TokenSession, UpstreamToken
from bff.refresh import (
    held_once,
    minting_refused,
    needs_refresh,
    refresh_grant,
    single_flight,
)
from bff.upstreams import Upstream
from oidc import client, clock
from oidc.exceptions import ProviderError, ProviderUnavailable
from oidc.provider import get_provider
from oidc.tokens import TokenSet, token_set_from_response

logger = logging.getLogger(__name__)


def _usable(stored: UpstreamToken | None, now: float, failed_token: str | None) -> bool:
    if stored is None:
        return False
    tokens = stored.tokens
    if failed_token is not None:
        # Only the token that failed upstream is worth replacing; a newer one is used as is.
        return tokens.access_token != failed_token
    return not needs_refresh(tokens, now, bff_settings.BFF_REFRESH_BUFFER_SECONDS)


def _stored(record: TokenSession, upstream: Upstream) -> UpstreamToken | None:
    return UpstreamToken.objects.filter(session_id=record.pk, upstream=upstream.name).first()


def upstream_token(
    record: TokenSession, upstream: Upstream, *, failed_token: str | None = None
) -> str:
    """The fresh access token minted for `upstream` in the session `record`.

    `failed_token`: the upstream refused it as invalid (RFC 6750): replace it once.
    Raises SessionEnded, ProviderUnavailable, or UpstreamError (502 when the provider
    will not mint a token for this upstream).
    """
    stored = _stored(record, upstream)
    if _usable(stored, clock.now(), failed_token):
        return stored.tokens.access_token
    return single_flight(
        f"{record.pk}:{upstream.name}",
        record.provider,
        lambda held: _under_lock(record, upstream, failed_token, held),
    )


def _under_lock(
    record: TokenSession, upstream: Upstream, failed_token: str | None, held: Held
) -> str | Exception:
    stored = _stored(record, upstream)
    if _usable(stored, clock.now(), failed_token):
        return stored.tokens.access_token  # a sibling got it while we waited
    session = TokenSession.objects.filter(pk=record.pk).first()
    if session is None or not session.is_live:
        return SessionEnded(session.end_reason if session else "unknown")
    if held.lost():
        logger.warning("session=%s upstream=%s lock lost: no grant", record.pk, upstream.name)
        return ProviderUnavailable("refresh lock lost", retry_after=1)
    audience = upstream.audience
    assert audience is not None
    if audience.mechanism == EXCHANGE:
        response = _exchange(session, audience)
    else:
        # The session's refresh token may rotate: the session's own lock as well.
        response = held_once(
            str(record.pk), record.provider, lambda inner: _resource_grant(record, audience, inner)
        )
    if isinstance(response, Exception):
        return response
    minted = token_set_from_response(response, clock.now())
    return _store(session, upstream, stored, minted)


def _exchange(session: TokenSession, audience: Audience) -> dict | Exception:
    try:
        return client.exchange_token(
            get_provider(session.provider),
            session.tokens.access_token,
            audience=audience.target,
            scope=audience.scope,
        )
    except (ProviderUnavailable, ProviderError) as exc:
        logger.warning("session=%s token exchange failed: %s", session.pk, exc)
        return minting_refused(exc)


def _resource_grant(record: TokenSession, audience: Audience, held: Held) -> dict | Exception:
    current = TokenSession.objects.select_related("user").get(pk=record.pk)
    if not current.is_live:
        return SessionEnded(current.end_reason)
    if held.lost():
        return ProviderUnavailable("refresh lock lost", retry_after=1)
    if not current.tokens.refresh_token:
        return UpstreamError(
            502, "upstream_token_refused", "The session has no refresh token to mint one with."
        )
    outcome = refresh_grant(current, clock.now(), resource=audience.target)
    if isinstance(outcome, Exception):
        return outcome
    _, response = outcome
    if response is None:  # a sibling rotated the refresh token: ask again on the next call
        return ProviderUnavailable("refresh token rotated meanwhile", retry_after=1)
    return response


def _store(
    session: TokenSession, upstream: Upstream, stored: UpstreamToken | None, minted: TokenSet
) -> str | Exception:
    """Write the minted token (the version read under the lock, or a new row)."""
    if stored is None:
        row = UpstreamToken(session=session, upstream=upstream.name)
        row.set_tokens(minted)
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            logger.warning("session=%s upstream=%s token stored twice", session.pk, upstream.name)
    else:
        stored.set_tokens(minted)
        UpstreamToken.objects.filter(pk=stored.pk, version=stored.version).update(
            access_token_encrypted=stored.access_token_encrypted,
            issued_at=stored.issued_at,
            expires_at=stored.expires_at,
            version=F("version") + 1,
        )
    # Ended meanwhile (another host, under the session's lock only): the token ends too.
    if not TokenSession.objects.filter(pk=session.pk, ended_at__isnull=True).exists():
        UpstreamToken.objects.filter(session_id=session.pk).delete()
        try:
            client.revoke(get_provider(session.provider), minted.access_token, "access_token")
        except KeyError:
            pass  # provider no longer configured
        return SessionEnded("ended")
    logger.info("session=%s upstream=%s token minted", session.pk, upstream.name)
    return minted.access_token
