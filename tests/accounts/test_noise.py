"""Anonymous noise writes nothing and is limited: starting a sign-in makes no session row,
junk callbacks and bad logout tokens make no audit row, and each client is rate limited."""

from __future__ import annotations

import pytest
import requests
from django.core.cache import cache

from accounts.models import AuditEvent
from bff.models import BrowserSession as Session
from tests.accounts.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tight_limits(settings):
    settings.ACCOUNTS_RATE_LIMITS = {"login": (5, 60), "callback": (5, 60), "backchannel": (5, 60)}
    cache.clear()
    yield
    cache.clear()


def test_fifty_sign_in_starts_leave_no_session_rows(hostile, bff):
    for _ in range(50):
        response = requests.get(f"{bff}/auth/login?next=/", allow_redirects=False, timeout=10)
        assert response.status_code == 302
        assert "bff_session" not in response.cookies
    assert Session.objects.count() == 0


def test_fifty_junk_callbacks_leave_no_audit_rows(hostile, bff):
    for i in range(50):
        response = requests.get(
            f"{bff}/auth/callback/hostile?state=junk-{i}&code=x", allow_redirects=False, timeout=10
        )
        assert response.status_code == 400
    assert AuditEvent.objects.count() == 0
    assert Session.objects.count() == 0


def test_sign_in_starts_are_rate_limited_per_client(hostile, bff, tight_limits):
    answers = [
        requests.get(f"{bff}/auth/login", allow_redirects=False, timeout=10) for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [302] * 5 + [429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert "Too many attempts" in answers[-1].text  # a page for people


def test_back_channel_calls_are_rate_limited_with_json(hostile, bff, tight_limits):
    answers = [
        requests.post(f"{bff}/auth/backchannel-logout/hostile", data={"logout_token": "x"})
        for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [400] * 5 + [429]
    assert answers[-1].json()["error"] == "rate_limited"
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_callbacks_are_rate_limited(hostile, bff, tight_limits, browser):
    for i in range(5):
        requests.get(f"{bff}/auth/callback/hostile?state=junk-{i}", timeout=10)
    response = sign_in(browser, bff)  # the sixth callback from this address
    assert response.status_code == 429
    assert "Retry-After" in response.headers
