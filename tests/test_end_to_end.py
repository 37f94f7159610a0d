"""The first path, end to end over real HTTP: provider pages, callback, dashboard."""

from __future__ import annotations

import pytest

from bff.models import TokenSession
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_dashboard_without_session_redirects_to_sign_in(wired, browser):
    response = browser.get(f"{wired.bff}/", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] in ("/auth/login?next=/", "/auth/login?next=%2F")


def test_sign_in_lands_on_dashboard_with_private_data(wired, browser):
    callback = sign_in(browser, wired.bff)
    assert callback.status_code == 302
    assert callback.headers["Location"] == "/"
    page = browser.get(f"{wired.bff}/")
    assert page.status_code == 200
    assert "Private stuff for" in page.text
    assert "Alice Example" in page.text
    # One opaque HttpOnly cookie, nothing else (the CSRF secret lives in the session).
    browser.get(f"{wired.bff}/auth/sessions")  # a page with forms
    bff_cookies = [c for c in browser.cookies if c.domain.startswith("127.0.0.1")]
    assert [c.name for c in bff_cookies] == ["bff_session"]
    assert bff_cookies[0].has_nonstandard_attr("HttpOnly")


def test_no_token_reaches_the_browser_during_sign_in(wired, browser):
    seen: list[str] = []

    def capture(response, *args, **kwargs):
        seen.append(response.text)
        seen.append("\n".join(f"{k}: {v}" for k, v in response.headers.items()))
        for past in response.history:
            seen.append("\n".join(f"{k}: {v}" for k, v in past.headers.items()))

    browser.hooks["response"].append(capture)
    sign_in(browser, wired.bff)
    browser.get(f"{wired.bff}/")
    browser.get(f"{wired.bff}/auth/session")
    browser.get(f"{wired.bff}/auth/sessions")

    tokens = TokenSession.objects.get().tokens
    secrets = [tokens.access_token, tokens.refresh_token, tokens.id_token]
    # Also each JWT's signature part, which no legitimate page could contain by chance.
    secrets += [t.rsplit(".", 1)[-1] for t in secrets if t.count(".") == 2]
    everything = "\n".join(seen)
    for secret in filter(None, secrets):
        assert secret not in everything


def test_tokens_are_encrypted_at_rest(wired, browser):
    sign_in(browser, wired.bff)
    record = TokenSession.objects.get()
    assert record.tokens.access_token not in record.access_token_encrypted
    assert record.tokens.refresh_token not in record.refresh_token_encrypted
