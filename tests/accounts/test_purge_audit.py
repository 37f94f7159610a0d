"""manage.py purge_audit: audit rows go by age only, and expired logout-token ids with them."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import models
from django.utils import timezone

from accounts.models import AuditEvent, AuditLogIsAppendOnly, SeenLogoutToken

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def audit_row(age: timedelta) -> AuditEvent:
    row = AuditEvent.objects.create(kind=AuditEvent.Kind.SIGN_OUT, user_label="someone")
    # The log refuses updates; the test moves time with the base QuerySet's.
    models.QuerySet.update(AuditEvent.objects.filter(pk=row.pk), created_at=timezone.now() - age)
    return row


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_audit", *args, stdout=out)
    return out.getvalue()


def test_rows_older_than_the_retention_are_deleted(settings):
    settings.ACCOUNTS_AUDIT_RETENTION_DAYS = 90
    old, recent = audit_row(100 * DAY), audit_row(10 * DAY)
    output = purge()
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert old.pk != recent.pk
    assert "Deleted 1 audit row(s) older than 90 day(s)" in output


def test_older_than_overrides_the_setting():
    audit_row(20 * DAY)
    kept = audit_row(5 * DAY)
    purge("--older-than", "7")
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [kept.pk]


def test_the_purge_goes_by_age_never_by_choice_of_row():
    old, recent = audit_row(400 * DAY), audit_row(DAY)
    cutoff = timezone.now() - 30 * DAY
    # Filtered to the recent row, the purge still deletes by age alone.
    assert AuditEvent.objects.filter(pk=recent.pk).purge_older_than(cutoff) == 1
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert old.pk
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()


def test_expired_logout_token_ids_are_deleted():
    now = timezone.now()
    SeenLogoutToken.objects.create(issuer="https://i", jti="old", expires_at=now - DAY)
    SeenLogoutToken.objects.create(issuer="https://i", jti="new", expires_at=now + DAY)
    purge()
    assert list(SeenLogoutToken.objects.values_list("jti", flat=True)) == ["new"]


def test_a_retention_under_a_day_is_refused():
    with pytest.raises(CommandError):
        purge("--older-than", "0")
