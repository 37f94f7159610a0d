"""Users, their linked provider identities, the audit log and seen logout-token ids."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The BFF's user. Created on first sign-in; found again by a linked Identity."""

    name = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return self.name or self.email or self.username


class Identity(models.Model):
    """An (issuer, sub) pair at a provider, linked to one user. Never linked by email."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities"
    )
    issuer = models.CharField(max_length=512)
    subject = models.CharField(max_length=255)
    provider = models.CharField(max_length=64)
    claims = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="identity_issuer_subject")
        ]
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"


class AuditEvent(models.Model):
    """What happened to whose session: sign-in, sign-out, logouts, sessions ended."""

    class Kind(models.TextChoices):
        SIGN_IN = "sign_in", "Signed in"
        SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
        SIGN_OUT = "sign_out", "Signed out"
        BACKCHANNEL_LOGOUT = "backchannel_logout", "Back-channel logout"
        BACKCHANNEL_REJECTED = "backchannel_rejected", "Back-channel logout rejected"
        SESSION_ENDED_BY_USER = "session_ended_by_user", "Session ended by the user"
        SESSION_ENDED_BY_ADMIN = "session_ended_by_admin", "Session ended by an admin"
        SESSION_EXPIRED = "session_expired", "Session expired"
        SESSION_ENDED = "session_ended", "Session ended"

    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    provider = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.user or ''} {self.reason}".strip()


class SeenLogoutToken(models.Model):
    """A logout token's (issuer, jti) seen once: a replay is refused on every host."""

    issuer = models.CharField(max_length=512)
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "jti"], name="logout_jti_once")]

    def __str__(self) -> str:
        return f"{self.jti} @ {self.issuer}"
