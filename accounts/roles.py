"""Admin rights (staff, superuser): from a provider's claim at sign-in, or given by hand.

    apply_claim_rights(user, provider.name, claims, request=request)   # every sign-in
    set_rights(user, staff=True, source=RightSource.COMMAND)           # manage.py grant_admin

Each right remembers where it came from (`User.staff_source`, `superuser_source`). A claim
grants a right, and withdraws it when it stops saying so, but only a right a claim granted:
one given by `grant_admin`, on the admin page or by `createsuperuser` stays. Every change
is an audit row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from accounts import audit
from accounts.conf import accounts_settings
from accounts.models import AuditEvent, RightSource, User
from oidc.claims import claim_values

# right -> (the flag on the user, where it came from)
RIGHTS = {"staff": ("is_staff", "staff_source"), "superuser": ("is_superuser", "superuser_source")}


@dataclass(frozen=True)
class Rights:
    staff: bool
    superuser: bool


def listed(value: str | Iterable[str]) -> frozenset[str]:
    """A setting's values: a list, or a comma-separated string."""
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(item.strip() for item in items if item and item.strip())


def rights_from_claims(provider_name: str, claims: dict[str, Any]) -> Rights | None:
    """The rights these claims give, or None when no claim decides (mapping off, or a
    provider whose claim is not believed)."""
    claim = accounts_settings.OIDC_STAFF_CLAIM
    if not claim:
        return None
    providers = listed(accounts_settings.OIDC_STAFF_PROVIDERS)
    if providers and provider_name not in providers:
        return None
    values = claim_values(claims, claim)
    superuser = bool(values & listed(accounts_settings.OIDC_SUPERUSER_VALUES))
    staff = superuser or bool(values & listed(accounts_settings.OIDC_STAFF_VALUES))
    return Rights(staff=staff, superuser=superuser)


def apply_claim_rights(
    user: User, provider_name: str, claims: dict[str, Any], *, request: HttpRequest | None = None
) -> list[str]:
    """Grant or withdraw the user's rights as the provider's claim says; returns the changes."""
    rights = rights_from_claims(provider_name, claims)
    if rights is None:
        return []
    changes = []
    for right, (flag, source) in RIGHTS.items():
        wanted = getattr(rights, right)
        if wanted and not getattr(user, flag):
            setattr(user, flag, True)
            setattr(user, source, RightSource.CLAIM)
            changes.append(f"{right} granted")
        elif not wanted and getattr(user, flag) and getattr(user, source) == RightSource.CLAIM:
            setattr(user, flag, False)
            setattr(user, source, "")
            changes.append(f"{right} withdrawn")
    if changes:
        _save(user)
        record(
            user,
            changes,
            f"claim {accounts_settings.OIDC_STAFF_CLAIM}",
            request=request,
            provider=provider_name,
        )
    return changes


def set_rights(
    user: User,
    *,
    source: RightSource,
    staff: bool | None = None,
    superuser: bool | None = None,
    request: HttpRequest | None = None,
    by: Any = None,
) -> list[str]:
    """Give (True) or take (False) rights by hand; None leaves one as it is. A right given
    here is never withdrawn by a claim. Returns the changes."""
    changes = []
    for right, value in (("staff", staff), ("superuser", superuser)):
        flag, origin = RIGHTS[right]
        if value is None:
            continue
        if value and (not getattr(user, flag) or getattr(user, origin) != source):
            setattr(user, flag, True)
            setattr(user, origin, source)
            changes.append(f"{right} granted")
        elif not value and getattr(user, flag):
            setattr(user, flag, False)
            setattr(user, origin, "")
            changes.append(f"{right} withdrawn")
    if changes:
        _save(user)
        record(user, changes, source.label + (f", by {by}" if by else ""), request=request)
    return changes


def record(
    user: User,
    changes: list[str],
    how: str,
    *,
    request: HttpRequest | None = None,
    provider: str = "",
) -> None:
    """One audit row for a change of rights: "staff granted, superuser withdrawn (how)"."""
    audit.record(
        AuditEvent.Kind.ADMIN_RIGHTS,
        request,
        user=user,
        provider=provider,
        reason=f"{', '.join(changes)} ({how})",
    )


def _save(user: User) -> None:
    user.save(update_fields=["is_staff", "staff_source", "is_superuser", "superuser_source"])
