"""manage.py purge_sessions: ended records go after their retention, live ones never."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from bff.models import BrowserSession as Session
from bff.models import SessionsAreEndedNotDeleted, TokenSession
from oidc.tokens import TokenSet

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def user():
    return get_user_model().objects.create(username="purge-user", email="purge@example.com")


def record(user, *, created_ago=timedelta(0), seen_ago=timedelta(0), ended_ago=None, reason=""):
    now = timezone.now()
    session = TokenSession(
        user=user,
        provider="oidc",
        issuer="https://issuer.example",
        subject="sub",
        last_seen_at=now - seen_ago,
    )
    session.set_tokens(TokenSet("access", "refresh", "id", now.timestamp(), now.timestamp() + 300))
    session.save(force_insert=True)
    TokenSession.objects.filter(pk=session.pk).update(
        created_at=now - created_ago,
        ended_at=None if ended_ago is None else now - ended_ago,
        end_reason=reason,
    )
    return TokenSession.objects.get(pk=session.pk)


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_sessions", *args, stdout=out)
    return out.getvalue()


def test_purge_deletes_records_ended_before_the_retention_and_keeps_the_rest(user, settings):
    settings.BFF_SESSION_MAX_AGE_SECONDS = 400 * 24 * 3600
    settings.BFF_SESSION_IDLE_SECONDS = 400 * 24 * 3600
    old_ended = record(user, created_ago=60 * DAY, ended_ago=45 * DAY, reason="logout")
    recent_ended = record(user, created_ago=20 * DAY, ended_ago=10 * DAY, reason="logout")
    # Live for 90 days (the limits allow it here): old, but live, so never deleted.
    old_live = record(user, created_ago=90 * DAY, seen_ago=DAY)

    output = purge("--older-than", "30")

    remaining = set(TokenSession.objects.values_list("pk", flat=True))
    assert remaining == {recent_ended.pk, old_live.pk}
    assert old_ended.pk not in remaining
    assert "deleted 1 session record(s)" in output
    assert TokenSession.objects.get(pk=old_live.pk).is_live


def test_records_past_their_limits_are_ended_first_and_kept_for_the_retention(user, settings):
    settings.BFF_SESSION_IDLE_SECONDS = 24 * 3600
    settings.BFF_SESSION_MAX_AGE_SECONDS = 7 * 24 * 3600
    idle = record(user, created_ago=3 * DAY, seen_ago=2 * DAY)
    too_old = record(user, created_ago=8 * DAY, seen_ago=timedelta(hours=1))
    live = record(user, created_ago=DAY, seen_ago=timedelta(minutes=5))

    output = purge("--older-than", "1")

    assert "Ended 2 expired session(s)" in output
    assert TokenSession.objects.get(pk=idle.pk).end_reason == "idle"
    assert TokenSession.objects.get(pk=too_old.pk).end_reason == "max_age"
    assert TokenSession.objects.get(pk=live.pk).is_live
    # Ended now, so kept for the retention like any other ended record.
    purge("--older-than", "0")
    assert list(TokenSession.objects.values_list("pk", flat=True)) == [live.pk]


def test_the_purge_path_never_deletes_a_live_record(user):
    live = record(user, created_ago=DAY)
    assert TokenSession.objects.all().purge_ended(timezone.now() + 365 * DAY) == 0
    assert TokenSession.objects.filter(pk=live.pk).purge_ended(timezone.now() + DAY) == 0
    assert TokenSession.objects.get(pk=live.pk).is_live
    # The ordinary ways are still refused.
    with pytest.raises(SessionsAreEndedNotDeleted):
        TokenSession.objects.filter(pk=live.pk).delete()


def test_the_purge_deletes_in_batches(user):
    for _ in range(5):
        record(user, ended_ago=40 * DAY, reason="logout")
    assert TokenSession.objects.purge_ended(timezone.now() - 30 * DAY, batch=2) == 5
    assert not TokenSession.objects.exists()


def test_django_expired_sessions_are_cleared(user):
    now = timezone.now()
    Session.objects.create(session_key="x" * 32, session_data="e30=", expire_date=now - DAY)
    Session.objects.create(session_key="y" * 32, session_data="e30=", expire_date=now + DAY)
    purge()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["y" * 32]


def test_the_retention_defaults_to_the_setting(user, settings):
    settings.BFF_PURGE_ENDED_AFTER_DAYS = 5
    kept = record(user, ended_ago=4 * DAY, reason="logout")
    record(user, ended_ago=6 * DAY, reason="logout")
    assert "more than 5 day(s) ago" in purge()
    assert list(TokenSession.objects.values_list("pk", flat=True)) == [kept.pk]


def test_a_negative_retention_is_refused(user):
    with pytest.raises(CommandError):
        purge("--older-than", "-1")
