"""The provider's people: email + password accounts."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone


def normalize_email(email: str) -> str:
    """Canonical form of an email address, so one address means one account."""
    return email.strip().lower()


class AccountManager(BaseUserManager["Account"]):
    """Creates accounts and finds them by email, whatever its letter case."""

    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> Account:
        """Look an account up by its email (what the login form calls the username)."""
        return self.get(email=normalize_email(username or ""))

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> Account:
        """Create an account; a None password makes it unusable for sign-in."""
        if not email:
            raise ValueError("An account needs an email address.")
        account = self.model(email=normalize_email(email), **fields)
        account.set_password(password)
        account.save(using=self._db)
        return account

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> Account:
        """Same as create_user: the provider has no admin site or staff accounts."""
        return self.create_user(email, password, **fields)


class Account(AbstractBaseUser):
    """A person who signs in at the provider; its id is the `sub` of every token."""

    # A random id rather than a counter: `sub` is what relying parties link accounts by, so a
    # reset provider database must never hand an old `sub` to a different person.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", max_length=254, unique=True)
    name = models.CharField("name", max_length=150)
    is_active = models.BooleanField("active", default=True)
    date_joined = models.DateTimeField("date joined", default=timezone.now)

    objects = AccountManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        verbose_name = "account"
        verbose_name_plural = "accounts"

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Store the email in canonical form, whoever saves the account."""
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        """The display name."""
        return self.name

    def get_short_name(self) -> str:
        """The display name."""
        return self.name


class GrantAuthentication(models.Model):
    """How the person authenticated (acr, auth_time) for one authorization code, and then for
    the refresh-token family the code was exchanged for (so refreshed tokens keep it)."""

    grant = models.OneToOneField(
        "oauth2_provider.Grant", null=True, blank=True, on_delete=models.CASCADE
    )
    token_family = models.UUIDField(null=True, blank=True, unique=True)
    acr = models.CharField(max_length=128)
    auth_time = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "grant authentication"

    def __str__(self) -> str:
        return f"{self.acr} at {self.auth_time:%Y-%m-%d %H:%M:%S}"
