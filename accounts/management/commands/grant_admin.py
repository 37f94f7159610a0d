"""manage.py grant_admin <email or sub> [--superuser] [--revoke]: admin rights by hand."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from accounts import roles
from accounts.conf import accounts_settings
from accounts.models import RightSource, User


class Command(BaseCommand):
    help = (
        "Make a user staff (they may open /admin/), or superuser, found by email or by their "
        "subject at the provider; --revoke takes the right away. A right given here is never "
        "withdrawn by the provider's claim. The user must have signed in once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("who", help="the user's email, or their subject (sub) at the provider")
        parser.add_argument(
            "--superuser", action="store_true", help="superuser (all permissions), and staff"
        )
        parser.add_argument(
            "--revoke",
            action="store_true",
            help="take the right away (with --superuser: only superuser, staff stays)",
        )

    def handle(self, *args: Any, who: str, superuser: bool, revoke: bool, **options: Any) -> None:
        user = self._user(who.strip())
        if revoke:
            wanted = {"superuser": False} if superuser else {"staff": False, "superuser": False}
        else:
            wanted = {"staff": True, "superuser": True} if superuser else {"staff": True}
        changes = roles.set_rights(user, source=RightSource.COMMAND, **wanted)
        done = ", ".join(changes) if changes else "nothing to change"
        self.stdout.write(f"{user}: {done}.")
        if revoke and accounts_settings.OIDC_STAFF_CLAIM:
            self.stdout.write(
                f"The provider's {accounts_settings.OIDC_STAFF_CLAIM!r} claim grants it again "
                "at their next sign-in if it still says so."
            )

    def _user(self, who: str) -> User:
        if not who:
            raise CommandError("Name a user: their email, or their subject at the provider.")
        found = list(
            User.objects.filter(Q(email__iexact=who) | Q(identities__subject=who))
            .distinct()
            .order_by("pk")
        )
        if not found:
            raise CommandError(
                f"No user has the email or subject {who!r}. Users are made by their first "
                "sign-in: sign in once, then run this again."
            )
        if len(found) > 1:
            listed = "; ".join(
                f"{u} (subjects: {', '.join(u.identities.values_list('subject', flat=True))})"
                for u in found
            )
            raise CommandError(f"{who!r} names {len(found)} users: {listed}. Name one by subject.")
        return found[0]
