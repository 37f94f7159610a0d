"""Rotating SECRET_KEY the documented Django way (the old key in SECRET_KEY_FALLBACKS)
keeps everyone signed in; dropping a key that still seals data signs out, never a 500."""

from __future__ import annotations

import pytest
from django.contrib.auth import HASH_SESSION_KEY

from bff.models import BrowserSession as Session
from bff.models import TokenSession
from tests.conftest import sign_in

OLD_KEY = "test-secret-key-not-for-production-0123456789abcdef"
NEW_KEY = "a-rotated-secret-key-for-the-test-9876543210fedcba-xyz"
GRAPHQL = {"query": "{ me { sub } }"}


def api_call(browser, bff):
    return browser.post(
        f"{bff}/api/graphql", json=GRAPHQL, headers={"X-CSRF": "1", "Origin": bff}, timeout=10
    )


@pytest.fixture
def signed_in(wired, browser, settings):
    settings.SECRET_KEY = OLD_KEY
    settings.SECRET_KEY_FALLBACKS = []
    settings.BFF_TOKEN_ENCRYPTION_KEYS = []  # tokens sealed with a key derived from SECRET_KEY
    assert sign_in(browser, wired.bff).status_code == 302
    assert api_call(browser, wired.bff).status_code == 200
    return browser


def test_rotating_secret_key_with_fallbacks_keeps_users_signed_in(signed_in, wired, settings):
    settings.SECRET_KEY = NEW_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_KEY]

    assert signed_in.get(f"{wired.bff}/auth/session").status_code == 200
    response = api_call(signed_in, wired.bff)
    assert response.status_code == 200
    assert response.json()["data"]["me"]["sub"]
    # The session's auth hash was re-made with the new key, as django.contrib.auth does.
    session = Session.objects.get(session_key=signed_in.cookies.get("bff_session"))
    record = TokenSession.objects.live().get()
    assert session.get_decoded()[HASH_SESSION_KEY] == record.user.get_session_auth_hash()


def test_dropping_the_old_key_signs_out_cleanly(signed_in, wired, settings):
    settings.SECRET_KEY = NEW_KEY
    settings.SECRET_KEY_FALLBACKS = []

    page = signed_in.get(f"{wired.bff}/items", allow_redirects=False)
    assert page.status_code == 302
    # The Django session no longer decodes (database engine): sign in; or, read from the
    # cache, it still names the record, whose tokens no key opens: the session has ended.
    assert page.headers["Location"].startswith(("/auth/login?next=", "/auth/ended?next="))
    assert signed_in.get(f"{wired.bff}/auth/session").status_code == 401
