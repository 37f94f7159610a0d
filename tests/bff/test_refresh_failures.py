"""When refresh fails: transient failures never sign anyone out; invalid_grant ends the session."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from bff.models import BrowserSession as Session
from bff.models import TokenSession
from bff.sessions import SESSION_KEY
from tests.bff.conftest import make_due, revoke_at_provider, update_record
from tests.conftest import CLIENT_ID, CLIENT_SECRET, sign_in
from tests.support.idp import find_form

pytestmark = pytest.mark.django_db(transaction=True)


def provider_refresh(provider, refresh_token: str) -> requests.Response:
    """Use a refresh token at the provider directly, as the BFF would."""
    return requests.post(
        f"{provider.issuer}/token/",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )


@pytest.mark.parametrize("mode", ["error", "down"])
def test_transient_failure_keeps_session_then_503_then_recovers(
    lenient, live_server, browser, settings, mode
):
    sign_in(browser, live_server.url)
    settings.BFF_REFRESH_BACKOFF_SECONDS = 30
    settings.BFF_REFRESH_BACKOFF_MAX_SECONDS = 30
    lenient.proxy.mode = mode
    record = make_due(remaining=20)

    # Token still valid: the request succeeds on the old token.
    assert browser.get(f"{live_server.url}/auth/session").status_code == 200
    assert lenient.proxy.refresh_attempts == 1 and lenient.proxy.refresh_grants == 0
    # Backing off: the next requests do not hammer the provider.
    for _ in range(5):
        assert browser.get(f"{live_server.url}/auth/session").status_code == 200
    assert lenient.proxy.refresh_attempts == 1
    assert TokenSession.objects.get(pk=record.pk).refresh_failures == 1

    # Token expired while the provider is still down: 503 with Retry-After, session kept.
    update_record(record.pk, access_expires_at=timezone.now() - timedelta(seconds=5))
    api = browser.get(f"{live_server.url}/auth/session")
    assert api.status_code == 503
    assert api.json()["error"] == "provider_unavailable"
    assert int(api.headers["Retry-After"]) >= 1
    page = browser.get(f"{live_server.url}/auth/sessions", allow_redirects=False)
    assert page.status_code == 503
    assert "provider is unavailable" in page.text
    assert TokenSession.objects.get(pk=record.pk).is_live

    # The provider comes back: the next request after the backoff refreshes.
    lenient.proxy.mode = "ok"
    make_due(remaining=-5)
    assert browser.get(f"{live_server.url}/auth/session").status_code == 200
    assert lenient.proxy.refresh_grants == 1
    fresh = TokenSession.objects.get(pk=record.pk)
    assert fresh.refresh_failures == 0 and fresh.version == record.version + 1


def test_slow_provider_beyond_timeout_keeps_session_and_recovers(
    lenient, live_server, browser, settings
):
    sign_in(browser, live_server.url)
    settings.OIDC_HTTP_TIMEOUT = (1.0, 1.0)
    lenient.proxy.mode, lenient.proxy.delay = "slow", 2.5
    record = make_due(remaining=20)
    started = time.monotonic()
    assert browser.get(f"{live_server.url}/auth/session").status_code == 200
    assert time.monotonic() - started < 2.4  # the request did not wait for the provider
    time.sleep(1.6)  # the provider finishes the late rotation meanwhile
    lenient.proxy.mode = "ok"
    make_due(remaining=-5)
    # The old token is still within the provider's grace period: refresh succeeds.
    assert browser.get(f"{live_server.url}/auth/session").status_code == 200
    assert TokenSession.objects.get(pk=record.pk).version == record.version + 1


def test_invalid_grant_ends_session_page_redirects_api_401(lenient, live_server, browser):
    sign_in(browser, live_server.url)
    record = TokenSession.objects.live().get()
    revoke_at_provider(lenient, record.tokens.refresh_token)
    make_due(remaining=-5)
    api_browser = requests.Session()
    api_browser.cookies.update({"bff_session": browser.cookies.get("bff_session")})

    page = browser.get(f"{live_server.url}/auth/sessions?tab=1", allow_redirects=False)
    assert page.status_code == 302
    assert page.headers["Location"] == "/auth/ended?next=%2Fauth%2Fsessions%3Ftab%3D1"
    ended = TokenSession.objects.get(pk=record.pk)
    assert ended.end_reason == TokenSession.EndReason.REFRESH_REJECTED

    api = api_browser.get(f"{live_server.url}/auth/session")
    assert api.status_code == 401
    assert api.json()["error"] in ("session_expired", "not_signed_in")
    assert browser.get(f"{live_server.url}/auth/session").status_code == 401


def test_sign_out_during_refresh_leaves_no_live_session(lenient, live_server, browser):
    sign_in(browser, live_server.url)
    confirm = browser.get(f"{live_server.url}/auth/logout")
    _, fields = find_form(confirm, "csrfmiddlewaretoken")
    lenient.proxy.mode, lenient.proxy.delay = "slow", 1.5
    record = make_due(remaining=20)

    refreshing = threading.Thread(
        target=lambda: browser.get(f"{live_server.url}/auth/session", timeout=30)
    )
    refreshing.start()
    time.sleep(0.4)  # the refresh is now waiting on the provider
    out = browser.post(
        f"{live_server.url}/auth/logout",
        data={"csrfmiddlewaretoken": fields["csrfmiddlewaretoken"]},
        allow_redirects=False,
        timeout=30,
    )
    refreshing.join()
    assert out.status_code == 302
    assert not TokenSession.objects.live().exists()
    assert browser.get(f"{live_server.url}/auth/session").status_code == 401
    # The newest refresh token was revoked, not only the one rotated away.
    newest = TokenSession.objects.get(pk=record.pk).tokens.refresh_token
    assert provider_refresh(lenient, newest).status_code == 400


def test_idle_and_absolute_limits_end_the_session(lenient, live_server, browser, settings):
    settings.BFF_SESSION_IDLE_SECONDS = 600
    sign_in(browser, live_server.url)
    record = TokenSession.objects.live().get()
    update_record(record.pk, last_seen_at=timezone.now() - timedelta(seconds=601))
    assert browser.get(f"{live_server.url}/auth/session").status_code == 401
    assert TokenSession.objects.get(pk=record.pk).end_reason == TokenSession.EndReason.IDLE

    settings.BFF_SESSION_MAX_AGE_SECONDS = 3600
    sign_in(browser, live_server.url)
    record = TokenSession.objects.live().get()
    update_record(record.pk, created_at=timezone.now() - timedelta(seconds=3601))
    assert browser.get(f"{live_server.url}/auth/session").status_code == 401
    assert TokenSession.objects.get(pk=record.pk).end_reason == TokenSession.EndReason.MAX_AGE


def test_django_session_holds_only_the_record_id(lenient, live_server, browser):
    sign_in(browser, live_server.url)
    make_due()
    browser.get(f"{live_server.url}/auth/session")
    record = TokenSession.objects.live().get()
    data = Session.objects.get(session_key=browser.cookies.get("bff_session")).get_decoded()
    assert data[SESSION_KEY] == str(record.pk)
    blob = repr(data)
    for token in (record.tokens.access_token, record.tokens.refresh_token, record.tokens.id_token):
        assert token not in blob


def test_sign_out_works_while_the_provider_is_down_and_the_token_expired(
    lenient, live_server, browser
):
    sign_in(browser, live_server.url)
    _, fields = find_form(browser.get(f"{live_server.url}/auth/logout"), "csrfmiddlewaretoken")
    lenient.proxy.mode = "down"
    record = make_due(remaining=-5)
    out = browser.post(
        f"{live_server.url}/auth/logout",
        data={"csrfmiddlewaretoken": fields["csrfmiddlewaretoken"]},
        allow_redirects=False,
    )
    assert out.status_code == 302
    assert TokenSession.objects.get(pk=record.pk).end_reason == TokenSession.EndReason.LOGOUT
    assert browser.get(f"{live_server.url}/auth/session").status_code == 401
