"""Step-up end to end on real servers: the live BFF, the built-in provider and the demo API's
vault, which wants acr urn:bff:demo:mfa in the access token (RFC 9470)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from accounts.models import AuditEvent
from bff import record_cache
from bff.models import TokenSession
from tests.conftest import USER_EMAIL, USER_PASSWORD, sign_in
from tests.support.idp import provider_sign_in

pytestmark = pytest.mark.django_db(transaction=True)

MFA = "urn:bff:demo:mfa"


def api(browser, wired, path):
    return browser.get(f"{wired.bff}{path}", headers={"X-CSRF": "1"})


def test_the_vault_asks_for_a_step_up_and_opens_after_it(wired, browser):
    assert sign_in(browser, wired.bff).status_code == 302
    record = TokenSession.objects.live().get()
    assert api(browser, wired, "/api/demo/items").status_code == 200

    refused = api(browser, wired, "/api/demo/vault")
    assert refused.status_code == 401
    body = refused.json()
    assert (body["error"], body["acr_values"], body["max_age"]) == ("step_up_required", MFA, None)

    # What api.js does: the login_url, with next = the page.
    login = body["login_url"].replace("next=%2F", urlencode({"next": "/items"}))
    started = browser.get(wired.bff + login, allow_redirects=False)
    assert started.status_code == 302
    assert "acr_values=urn%3Abff%3Ademo%3Amfa" in started.headers["Location"]
    # The provider session is live: its step-up page asks for the password once more.
    back = provider_sign_in(browser, started.headers["Location"], USER_EMAIL, USER_PASSWORD)
    done = browser.get(back.headers["Location"], allow_redirects=False)
    assert done.status_code == 302, done.text
    assert done.headers["Location"] == "/items"

    opened = api(browser, wired, "/api/demo/vault")
    assert opened.status_code == 200, opened.text
    assert opened.json()["acr"] == MFA
    # The same session, stronger: one record, its id kept, the items still there.
    after = TokenSession.objects.get()
    assert after.pk == record.pk and after.is_live and after.version > record.version
    assert api(browser, wired, "/api/demo/items").status_code == 200
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.STEP_UP, user=after.user).count() == 1

    # A refresh keeps the stronger token (the provider keeps acr through rotations).
    TokenSession.objects.filter(pk=after.pk).update(access_expires_at=after.access_issued_at)
    record_cache.forget([after.pk])
    assert api(browser, wired, "/api/demo/vault").status_code == 200
    assert TokenSession.objects.get().version > after.version
