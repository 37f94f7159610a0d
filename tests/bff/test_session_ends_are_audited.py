"""Every way a session ends reaches the audit log: the gateway announces it (bff.signals)
and the accounts app writes the row, with who and why."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent, User
from bff.models import TokenSession
from tests.bff.conftest import make_due, revoke_at_provider, update_record
from tests.conftest import CLIENT_ID, CLIENT_SECRET, USER_EMAIL, sign_in
from tests.support.idp import provider_sign_in

pytestmark = pytest.mark.django_db(transaction=True)
Kind = AuditEvent.Kind
Reason = TokenSession.EndReason


def ended_rows(kind: str) -> list[tuple[str, str, str]]:
    return [
        (e.reason, e.user.email if e.user else "", e.provider)
        for e in AuditEvent.objects.filter(kind=kind).order_by("created_at")
    ]


def test_idle_and_maximum_age_are_audited_as_expired(lenient, live_server, browser, settings):
    settings.BFF_SESSION_IDLE_SECONDS = 600
    settings.BFF_SESSION_MAX_AGE_SECONDS = 3600
    sign_in(browser, live_server.url)
    record = TokenSession.objects.live().get()
    update_record(record.pk, last_seen_at=timezone.now() - timedelta(seconds=601))
    assert browser.get(f"{live_server.url}/auth/session").status_code == 401

    sign_in(browser, live_server.url)
    record = TokenSession.objects.live().get()
    update_record(record.pk, created_at=timezone.now() - timedelta(seconds=3601))
    assert browser.get(f"{live_server.url}/auth/session").status_code == 401

    email = record.user.email
    assert ended_rows(Kind.SESSION_EXPIRED) == [("idle", email, "oidc"), ("max_age", email, "oidc")]
    for event in AuditEvent.objects.filter(kind=Kind.SESSION_EXPIRED):
        assert event.ip_address == "127.0.0.1"


def test_rejected_refresh_is_audited(lenient, live_server, browser):
    sign_in(browser, live_server.url)
    record = TokenSession.objects.live().get()
    revoke_at_provider(lenient, record.tokens.refresh_token)
    make_due(remaining=-5)
    assert browser.get(f"{live_server.url}/auth/session").status_code == 401
    assert ended_rows(Kind.SESSION_ENDED) == [("refresh_rejected", record.user.email, "oidc")]


def test_a_sign_in_finishing_in_a_signed_in_browser_audits_the_replaced_session(
    lenient, live_server, browser
):
    # Tab one starts signing in; tab two signs in meanwhile; tab one's sign-in then finishes.
    started = browser.get(f"{live_server.url}/auth/login?next=/items", allow_redirects=False)
    assert sign_in(browser, live_server.url).status_code == 302
    first = TokenSession.objects.live().get()
    to_callback = provider_sign_in(browser, started.headers["Location"], USER_EMAIL, "unused")
    assert browser.get(to_callback.headers["Location"], allow_redirects=False).status_code == 302

    assert TokenSession.objects.get(pk=first.pk).end_reason == Reason.REPLACED
    assert TokenSession.objects.live().count() == 1
    assert ended_rows(Kind.SESSION_ENDED) == [("replaced", USER_EMAIL, "oidc")]


def test_admin_end_is_audited_and_revokes(lenient, live_server, browser):
    sign_in(browser, live_server.url)
    record = TokenSession.objects.live().get()
    admin = User.objects.create_superuser("root", "root@example.com", "pw-for-the-test")
    client = Client()
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post(
        "/admin/bff/tokensession/",
        {"action": "end_selected", "_selected_action": [str(record.pk)]},
    )
    assert response.status_code == 302
    assert TokenSession.objects.get(pk=record.pk).end_reason == Reason.ENDED_BY_ADMIN
    assert ended_rows(Kind.SESSION_ENDED_BY_ADMIN) == [
        ("by root@example.com", record.user.email, "oidc")
    ]
    # The refresh token no longer works at the provider.
    refreshed = requests.post(
        f"{lenient.issuer}/token/",
        data={"grant_type": "refresh_token", "refresh_token": record.tokens.refresh_token},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert refreshed.status_code == 400
