"""Create or update the BFF's client and, optionally, a demo account. Safe to run repeatedly."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from oauth2_provider.models import AbstractApplication, get_application_model

from idp.models import Account, normalize_email


class Command(BaseCommand):
    help = (
        "Create or update a confidential authorization-code client (PKCE, RS256 ID tokens, "
        "no consent page) and optionally an account. Never prints secrets."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--client-secret", required=True)
        parser.add_argument("--client-name", default="", help="Shown to people; default: the id.")
        parser.add_argument(
            "--redirect-uri", action="append", required=True, dest="redirect_uris", metavar="URI"
        )
        parser.add_argument(
            "--post-logout-redirect-uri",
            action="append",
            default=[],
            dest="post_logout_redirect_uris",
            metavar="URI",
        )
        parser.add_argument("--user-email")
        parser.add_argument("--user-password")
        parser.add_argument("--user-name", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["user_email"] and not options["user_password"]:
            raise CommandError("--user-email needs --user-password.")
        # Everything is validated before anything is saved: all or nothing, and no report of
        # a change that did not happen.
        app, app_created = self.client_from(options)
        account, account_created = None, False
        if options["user_email"]:
            account, account_created = self.account_from(
                options["user_email"], options["user_password"], options["user_name"]
            )
        with transaction.atomic():
            app.save()
            if account is not None:
                account.save()

        self.stdout.write(
            f"{'Created' if app_created else 'Updated'} client {app.client_id!r}: confidential, "
            "authorization code with PKCE (S256), RS256 ID tokens, no consent page.\n"
            f"  redirect URIs: {app.redirect_uris}\n"
            f"  post-logout redirect URIs: {app.post_logout_redirect_uris or '(none)'}"
        )
        if account is not None:
            self.stdout.write(
                f"{'Created' if account_created else 'Updated'} account "
                f"{account.email} ({account.name})."
            )

    def client_from(self, options: dict[str, Any]) -> tuple[AbstractApplication, bool]:
        """The client with these settings, validated and not yet saved; and whether it is new."""
        Application = get_application_model()
        client_id: str = options["client_id"]
        app = Application.objects.filter(client_id=client_id).first()
        created = app is None
        if app is None:
            app = Application(client_id=client_id)
        app.name = options["client_name"] or client_id
        app.client_type = Application.CLIENT_CONFIDENTIAL
        app.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
        app.redirect_uris = " ".join(options["redirect_uris"])
        app.post_logout_redirect_uris = " ".join(options["post_logout_redirect_uris"])
        app.algorithm = Application.RS256_ALGORITHM
        # A first-party client: the person already chose to sign in to it, so no consent page.
        app.skip_authorization = True
        app.hash_client_secret = True
        # Set on every run (hashed on save): the command is how the secret gets rotated.
        app.client_secret = options["client_secret"]
        try:
            app.full_clean()
        except ValidationError as error:
            raise CommandError(f"Invalid client settings: {error.message_dict}") from error
        return app, created

    def account_from(self, email: str, password: str, name: str) -> tuple[Account, bool]:
        """The account with this email, password and name, validated and not yet saved."""
        account = Account.objects.filter(email=normalize_email(email)).first()
        created = account is None
        if account is None:
            account = Account(email=normalize_email(email))
        account.name = name or account.name or email.split("@")[0]
        account.is_active = True
        account.set_password(password)
        try:
            account.full_clean()
        except ValidationError as error:
            raise CommandError(f"Invalid account: {error.message_dict}") from error
        return account, created
