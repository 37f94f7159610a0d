"""manage.py purge_audit [--older-than DAYS]: the audit log's retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.conf import accounts_settings
from accounts.models import AuditEvent, SeenLogoutToken
from oidc import clock


class Command(BaseCommand):
    help = (
        "Delete the audit rows older than DAYS days (ACCOUNTS_AUDIT_RETENTION_DAYS by default) "
        "and the logout-token ids no longer needed against replays. Run it daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="DAYS",
            dest="days",
            help="delete audit rows older than DAYS days",
        )

    def handle(self, *args: Any, days: int | None, **options: Any) -> None:
        days = accounts_settings.ACCOUNTS_AUDIT_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError("--older-than takes a number of days, 1 or more.")
        now = clock.now_datetime()
        audit = AuditEvent.objects.purge_older_than(now - timedelta(days=days))
        seen, _ = SeenLogoutToken.objects.filter(expires_at__lt=now).delete()
        self.stdout.write(
            f"Deleted {audit} audit row(s) older than {days} day(s) and {seen} expired "
            "logout-token id(s)."
        )
