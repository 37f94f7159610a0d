"""Finding and creating users by (issuer, sub): never by email alone."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import RANDOM_USERNAME_PREFIX, Identity, User

# What Django's username validator allows (UnicodeUsernameValidator), and its length.
_NOT_A_USERNAME_CHAR = re.compile(r"[^\w.@+-]")
_USERNAME_MAX = 150

PROFILE_CLAIMS = (
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
)


def lacks_profile(claims: dict[str, Any]) -> bool:
    """The claims miss what the app shows of a person: an email, or a name."""
    profile = _profile(claims)
    return not (profile["email"] and profile["name"])


def _profile(claims: dict[str, Any]) -> dict[str, str]:
    name = claims.get("name") or " ".join(
        part for part in (claims.get("given_name"), claims.get("family_name")) if part
    )
    email = claims.get("email") if isinstance(claims.get("email"), str) else ""
    return {"name": str(name or "")[:255], "email": email[:254]}


def user_for_identity(issuer: str, provider: str, claims: dict[str, Any]) -> User:
    """The user linked to (issuer, sub); created on first sign-in; profile updated."""
    subject = claims["sub"]
    profile = _profile(claims)
    kept = {k: claims[k] for k in PROFILE_CLAIMS if k in claims}
    with transaction.atomic():
        identity = (
            Identity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        )
        if identity is None:
            user = _new_user(provider, claims, profile)
            try:
                with transaction.atomic():
                    identity = Identity.objects.create(
                        user=user, issuer=issuer, subject=subject, provider=provider, claims=kept
                    )
            except IntegrityError:  # a concurrent first sign-in won the race
                user.delete()
                identity = Identity.objects.select_related("user").get(
                    issuer=issuer, subject=subject
                )
        user = identity.user
        changed = [
            field for field, value in profile.items() if value and getattr(user, field) != value
        ]
        for field in changed:
            setattr(user, field, profile[field])
        if changed:
            user.save(update_fields=changed)
        identity.claims = kept
        identity.last_login_at = timezone.now()
        identity.save(update_fields=["claims", "last_login_at"])
    return user


def _new_user(provider: str, claims: dict[str, Any], profile: dict[str, str]) -> User:
    """A new user without a password, under the first free of `_usernames`."""
    for username in _usernames(provider, claims, profile):
        if User.objects.filter(username=username).exists():
            continue
        try:
            with transaction.atomic():
                user = User.objects.create_user(username=username, **profile)
        except IntegrityError:  # taken meanwhile by a concurrent first sign-in
            continue
        user.set_unusable_password()
        user.save(update_fields=["password"])
        return user
    raise IntegrityError("no free username")  # not reached: the last one is random


def _usernames(provider: str, claims: dict[str, Any], profile: dict[str, str]) -> Iterator[str]:
    """Usernames for a new user, most readable first: the email, else the preferred
    username (or name, or sub) @ provider; then with a short random suffix. People read
    them in the admin; nothing looks a user up by username (identities do that)."""
    preferred = claims.get("preferred_username")
    preferred = preferred if isinstance(preferred, str) else ""
    base = profile["email"] or f"{preferred or profile['name'] or claims['sub']}@{provider}"
    base = _NOT_A_USERNAME_CHAR.sub("_", base.strip())[: _USERNAME_MAX - 7] or "user"
    yield base
    for _ in range(8):
        yield f"{base}-{secrets.token_hex(3)}"
    yield f"{RANDOM_USERNAME_PREFIX}{uuid.uuid4().hex[:20]}"
