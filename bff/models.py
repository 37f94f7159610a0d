"""The server-side session record: one row per signed-in browser session, tokens encrypted."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.exceptions import PermissionDenied
from django.db import models

from bff import crypto
from oidc.tokens import TokenSet


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


def _decrypted_once(
    instance: models.Model, state: tuple, build: Callable[[], TokenSet]
) -> TokenSet:
    """`build()` (the instance's tokens, decrypted), kept on the instance until the fields in
    `state` change (TokenSession.__getstate__ keeps it out of the shared cache)."""
    cached = instance.__dict__.get("_decrypted")
    if cached is None or cached[0] != state:
        cached = instance.__dict__["_decrypted"] = (state, build())
    return cached[1]


class SessionsAreEndedNotDeleted(PermissionDenied):
    """A session record was to be deleted: records are ended (bff.sessions.end), and kept."""

    def __init__(self) -> None:
        super().__init__("Token sessions are never deleted: end them with bff.sessions.end().")


class TokenSessionQuerySet(models.QuerySet):
    def live(self) -> TokenSessionQuerySet:
        return self.filter(ended_at__isnull=True)

    def delete(self) -> tuple[int, dict[str, int]]:
        # Deleting a user still removes their (ended) records: Django's collector deletes
        # them through the plain base manager.
        raise SessionsAreEndedNotDeleted()

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]

    def purge_ended(self, before: datetime, batch: int = 500) -> int:
        """Delete the records of this queryset that ended before `before`; returns how many.

        The one way a record goes (manage.py purge_sessions), and only an ended one: a live
        session can never be deleted. Nothing refers to a record and nobody is told, so the
        rows are deleted directly, in batches that keep each statement short.
        """
        purged = 0
        while True:
            ended = self.filter(ended_at__isnull=False, ended_at__lt=before)
            ids = list(ended.order_by().values_list("pk", flat=True)[:batch])
            if not ids:
                return purged
            rows = self.model.objects.using(self.db).filter(pk__in=ids, ended_at__isnull=False)
            # Ending a session deletes its upstream tokens; one stored in a race goes here.
            UpstreamToken.objects.using(self.db).filter(session_id__in=ids).delete()
            purged += rows._raw_delete(rows.db)

    purge_ended.alters_data = True  # type: ignore[attr-defined]


class TokenSession(models.Model):
    """A browser session's tokens and lifecycle. The Django session holds only its id."""

    class EndReason(models.TextChoices):
        LOGOUT = "logout", "Signed out"
        REFRESH_REJECTED = "refresh_rejected", "Provider rejected the refresh token"
        IDENTITY_CHANGED = "identity_changed", "Refreshed ID token changed identity"
        BACKCHANNEL = "backchannel", "Provider back-channel logout"
        ENDED_BY_USER = "ended_by_user", "Ended by the user"
        ENDED_BY_ADMIN = "ended_by_admin", "Ended by an admin"
        MAX_AGE = "max_age", "Absolute lifetime reached"
        IDLE = "idle", "Idle timeout"
        REPLACED = "replaced", "Replaced by a new sign-in"
        NO_REFRESH_TOKEN = "no_refresh_token", "Access token expired, no refresh token"
        ACCOUNT_DISABLED = "account_disabled", "Account deactivated"
        CREDENTIALS_CHANGED = "credentials_changed", "Account credentials changed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_sessions"
    )
    provider = models.CharField(max_length=64)
    issuer = models.CharField(max_length=512)
    subject = models.CharField(max_length=255)
    sid = models.CharField(max_length=255, blank=True, db_index=True)
    # The Django session key of the browser holding this record: the shared cache keys the
    # record by it (bff.record_cache), so a request finds it knowing only its cookie.
    browser_key = models.CharField(max_length=40, blank=True)

    access_token_encrypted = models.TextField()
    refresh_token_encrypted = models.TextField(blank=True)
    id_token_encrypted = models.TextField(blank=True)
    access_issued_at = models.DateTimeField()
    access_expires_at = models.DateTimeField()
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    # Transient refresh failures back off per session.
    refresh_failures = models.PositiveIntegerField(default=0)
    refresh_retry_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, choices=EndReason.choices, blank=True)

    objects = TokenSessionQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["issuer", "subject"], name="bff_session_iss_sub"),
            models.Index(fields=["user", "ended_at"], name="bff_session_user_live"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} via {self.provider} ({'ended' if self.ended_at else 'live'})"

    def __getstate__(self) -> dict:
        # Pickled into the shared cache: plaintext tokens never leave this process.
        state = super().__getstate__()
        state.pop("_decrypted", None)
        return state

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise SessionsAreEndedNotDeleted()

    @property
    def is_live(self) -> bool:
        return self.ended_at is None

    @property
    def tokens(self) -> TokenSet:
        """The decrypted tokens, decrypted once per instance and state of the fields."""
        state = (
            self.access_token_encrypted,
            self.refresh_token_encrypted,
            self.id_token_encrypted,
            self.access_issued_at,
            self.access_expires_at,
            self.refresh_expires_at,
        )
        return _decrypted_once(
            self,
            state,
            lambda: TokenSet(
                access_token=crypto.decrypt(self.access_token_encrypted),
                refresh_token=crypto.decrypt(self.refresh_token_encrypted),
                id_token=crypto.decrypt(self.id_token_encrypted),
                issued_at=self.access_issued_at.timestamp(),
                expires_at=self.access_expires_at.timestamp(),
                refresh_expires_at=_ts(self.refresh_expires_at),
            ),
        )

    def set_tokens(self, tokens: TokenSet) -> list[str]:
        """Store (encrypted) tokens on the instance; returns the fields changed."""
        self.access_token_encrypted = crypto.encrypt(tokens.access_token)
        self.refresh_token_encrypted = crypto.encrypt(tokens.refresh_token)
        self.id_token_encrypted = crypto.encrypt(tokens.id_token)
        self.access_issued_at = _dt(tokens.issued_at)
        self.access_expires_at = _dt(tokens.expires_at)
        self.refresh_expires_at = _dt(tokens.refresh_expires_at)
        return [
            "access_token_encrypted",
            "refresh_token_encrypted",
            "id_token_encrypted",
            "access_issued_at",
            "access_expires_at",
            "refresh_expires_at",
        ]


class BrowserSession(AbstractBaseSession):
    """A browser's Django session (bff.session_store), naming the token session record it
    holds, so that one query loads the session, the record and the record's user.

    No database constraint: a record is never deleted while live, and the purge of ended
    records (purge_ended) deletes rows without asking who still names them.
    """

    token_session = models.ForeignKey(
        TokenSession,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )

    class Meta(AbstractBaseSession.Meta):
        db_table = "bff_browser_session"

    @classmethod
    def get_session_store_class(cls) -> type:
        from bff.session_store import SessionStore

        return SessionStore


class UpstreamToken(models.Model):
    """An access token minted for one upstream (its audience) in one session, encrypted.

    Read only for upstreams configured with an audience (bff/upstream_tokens.py), deleted
    when its session ends.
    """

    session = models.ForeignKey(
        TokenSession, on_delete=models.CASCADE, related_name="upstream_tokens"
    )
    upstream = models.CharField(max_length=64)
    access_token_encrypted = models.TextField()
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "upstream"], name="bff_upstream_token_once")
        ]

    def __str__(self) -> str:
        return f"{self.upstream} token of session {self.session_id}"

    @property
    def tokens(self) -> TokenSet:
        """The decrypted access token as a TokenSet (no refresh or ID token of its own)."""
        state = (self.access_token_encrypted, self.issued_at, self.expires_at)
        return _decrypted_once(
            self,
            state,
            lambda: TokenSet(
                access_token=crypto.decrypt(self.access_token_encrypted),
                refresh_token="",
                id_token="",
                issued_at=self.issued_at.timestamp(),
                expires_at=self.expires_at.timestamp(),
            ),
        )

    def set_tokens(self, tokens: TokenSet) -> None:
        self.access_token_encrypted = crypto.encrypt(tokens.access_token)
        self.issued_at = _dt(tokens.issued_at)
        self.expires_at = _dt(tokens.expires_at)
