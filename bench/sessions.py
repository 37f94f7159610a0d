"""A signed-in session: sign in like a browser, then read or age its token record.

The record is read and changed through the app's own API (bff.models.TokenSession,
bff.record_cache), the way tests/bff/conftest.py does it in the test process. These
helpers run in the driver process on Django as bench.django_setup set it up (the stack's
database, the shared Redis cache); BFFStack.start_bff does that before the first of them is
called. Each closes its database connections when done, so the driver holds no connection
to the BFF's database between calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import requests

from bench import django_setup
from tests.support.idp import provider_sign_in

USER_EMAIL = "alice@example.com"
USER_PASSWORD = "correct horse battery staple"


def sign_in(bff_url: str) -> str:
    """Sign in through the BFF and the provider's pages like a browser; the bff_session value."""
    browser = requests.Session()
    try:
        start = browser.get(
            f"{bff_url}/auth/login?{urlencode({'next': '/'})}", allow_redirects=False
        )
        if start.status_code != 302:
            raise RuntimeError(f"/auth/login answered {start.status_code}: {start.text[:500]}")
        to_callback = provider_sign_in(
            browser, start.headers["Location"], USER_EMAIL, USER_PASSWORD
        )
        done = browser.get(to_callback.headers["Location"], allow_redirects=False)
        if done.status_code != 302 or not browser.cookies.get("bff_session"):
            raise RuntimeError(f"the callback answered {done.status_code}: {done.text[:500]}")
        return browser.cookies.get("bff_session")
    finally:
        browser.close()


@contextmanager
def _orm() -> Iterator[None]:
    """Django set up in this process; its database connections closed afterwards."""
    django_setup.require()
    from django.db import connections

    try:
        yield
    finally:
        connections.close_all()


def newest_live_record_id() -> str:
    """The id of the newest live token record (the session just signed in)."""
    with _orm():
        from bff.models import TokenSession

        pk = (
            TokenSession.objects.live().order_by("-created_at").values_list("pk", flat=True).first()
        )
    if pk is None:
        raise RuntimeError("no live token record: the sign-in made none")
    return str(pk)


def record_version(record_id: str) -> int:
    """The record's version (it moves by one per refresh)."""
    with _orm():
        from bff.models import TokenSession

        return TokenSession.objects.values_list("version", flat=True).get(pk=record_id)


def update_record(record_id: str, **fields: Any) -> None:
    """Change a record in the database and drop its cached copy, so requests see the change."""
    with _orm():
        from bff import record_cache
        from bff.models import TokenSession

        records = TokenSession.objects.filter(pk=record_id)
        records.update(**fields)
        record_cache.forget(records.values_list("browser_key", flat=True))


def make_due(record_id: str, remaining: float = 10.0, lifetime: float = 900.0) -> None:
    """Put a record's access token `remaining` seconds before expiry (inside the buffer)."""
    django_setup.require()
    from django.utils import timezone

    now = timezone.now()
    update_record(
        record_id,
        access_issued_at=now - timedelta(seconds=lifetime - remaining),
        access_expires_at=now + timedelta(seconds=remaining),
        refresh_retry_at=None,
        refresh_failures=0,
    )


def age_last_seen(record_id: str, seconds: float = 120.0) -> None:
    """Put the record's last_seen_at `seconds` in the past (its next request writes it)."""
    django_setup.require()
    from django.utils import timezone

    update_record(record_id, last_seen_at=timezone.now() - timedelta(seconds=seconds))
