"""manage.py purge_sessions [--older-than DAYS]: drop what ended sessions leave behind."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bff.conf import bff_settings
from bff.models import TokenSession
from bff.sessions import end_expired
from oidc import clock


class Command(BaseCommand):
    help = (
        "End the session records past their idle or absolute limit, delete the records that "
        "ended more than DAYS days ago (BFF_PURGE_ENDED_AFTER_DAYS by default), and Django's "
        "expired sessions (clearsessions). A live session is never deleted. Run it daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="DAYS",
            dest="days",
            help="delete records ended more than DAYS days ago",
        )

    def handle(self, *args: Any, days: int | None, **options: Any) -> None:
        days = bff_settings.BFF_PURGE_ENDED_AFTER_DAYS if days is None else days
        if days < 0:
            raise CommandError("--older-than takes a number of days, 0 or more.")
        ended = end_expired()
        purged = TokenSession.objects.purge_ended(clock.now_datetime() - timedelta(days=days))
        call_command("clearsessions")
        self.stdout.write(
            f"Ended {ended} expired session(s); deleted {purged} session record(s) ended more "
            f"than {days} day(s) ago; cleared Django's expired sessions."
        )
