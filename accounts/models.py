"""Users, their linked provider identities, the audit log and seen logout-token ids."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import PermissionDenied
from django.db import models

# How usernames were made before they were made from the email: random, so never shown.
RANDOM_USERNAME_PREFIX = "oidc-"


class RightSource(models.TextChoices):
    """Where a user's staff or superuser right came from. Only a provider claim's right is
    withdrawn by the claim; the others stay until someone takes them away."""

    CLAIM = "claim", "provider claim"
    COMMAND = "command", "grant_admin command"
    ADMIN = "admin", "admin page"


def end_sessions_of(users: Any, *, request: Any = None, by: Any = None) -> int:
    """End and revoke the live sessions of `users` (a queryset or a list), one by one
    through the gateway (one `session_ended` each); returns how many."""
    from bff import sessions  # at call time: this module loads before the gateway's models
    from bff.models import TokenSession

    live = list(TokenSession.objects.live().filter(user__in=users))
    for record in live:
        sessions.end(record, sessions.Reason.ENDED_BY_ADMIN, request=request, by=by)
    return len(live)


class UserQuerySet(models.QuerySet):
    def delete(self) -> tuple[int, dict[str, int]]:
        # A deleted user's sessions are ended and revoked first, never just dropped.
        end_sessions_of(self)
        return super().delete()

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    pass


class User(AbstractUser):
    """The BFF's user. Created on first sign-in; found again by a linked Identity."""

    name = models.CharField(max_length=255, blank=True)
    staff_source = models.CharField(
        "staff right from",
        max_length=16,
        choices=RightSource.choices,
        blank=True,
        help_text="Empty: not staff, or made staff by hand (never withdrawn by a claim).",
    )
    superuser_source = models.CharField(
        "superuser right from",
        max_length=16,
        choices=RightSource.choices,
        blank=True,
        help_text="Empty: not a superuser, or made one by hand (never withdrawn by a claim).",
    )

    objects = UserManager()

    def __str__(self) -> str:
        # What people read: the email, else the name and provider; never a random username.
        if self.email:
            return self.email
        name = self.name or (
            "" if self.username.startswith(RANDOM_USERNAME_PREFIX) else self.username
        )
        name = name or f"user {self.pk}"
        providers = ", ".join(self.provider_names())
        return f"{name} ({providers})" if providers else name

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        # A deleted user's sessions are ended and revoked first, never just dropped.
        if self.pk is not None:
            end_sessions_of([self])
        return super().delete(*args, **kwargs)

    def provider_names(self) -> list[str]:
        """The providers the user signs in with (prefetched identities are used)."""
        if self.pk is None:
            return []
        return sorted({identity.provider for identity in self.identities.all()})


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


class AuditLogIsAppendOnly(PermissionDenied):
    """An audit row was to be changed or deleted: the log only grows."""

    def __init__(self, what: str) -> None:
        super().__init__(f"The audit log is append-only: {what} is refused.")


class AuditEventQuerySet(models.QuerySet):
    """Rows are added, never updated or deleted, by anybody.

    Deleting a user still sets `user` to NULL on their rows (Django's collector works on the
    plain base manager); `user_label` keeps who it was.
    """

    def update(self, **kwargs: Any) -> int:
        raise AuditLogIsAppendOnly("updating rows")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("deleting rows")

    update.alters_data = True  # type: ignore[attr-defined]
    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]

    def purge_older_than(self, before: Any) -> int:
        """Delete every row written before `before`, whatever this queryset was filtered to;
        returns how many.

        The retention (manage.py purge_audit) is the one way rows go: by age, never by
        choice of row. Nothing refers to a row, so they are deleted directly.
        """
        old = self.model.objects.using(self.db).filter(created_at__lt=before)
        return old._raw_delete(old.db)

    purge_older_than.alters_data = True  # type: ignore[attr-defined]


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
        ADMIN_RIGHTS = "admin_rights", "Admin rights changed"
        STEP_UP = "step_up", "Stepped up the sign-in"

    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Who, as shown when the row was written: still there once the user is deleted.
    user_label = models.CharField("who", max_length=255, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} {self.user_label or self.user or ''} {self.reason}".strip()
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly("changing a row")
        if self.user is not None and not self.user_label:
            self.user_label = str(self.user)[:255]
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("deleting a row")


class SeenLogoutToken(models.Model):
    """A logout token's (issuer, jti) seen once: a replay is refused on every host."""

    issuer = models.CharField(max_length=512)
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "jti"], name="logout_jti_once")]

    def __str__(self) -> str:
        return f"{self.jti} @ {self.issuer}"
