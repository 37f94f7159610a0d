"""Finding and creating users by (issuer, sub): never by email alone."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Identity, User

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
            user = User.objects.create_user(username=_new_username(), **profile)
            user.set_unusable_password()
            user.save(update_fields=["password"])
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


def _new_username() -> str:
    return f"oidc-{uuid.uuid4().hex[:20]}"
