"""Open redirects: where `next` may send a person after sign-in and sign-out."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import AnonymousUser

from bff.redirects import safe_next
from bff.responses import provider_unavailable
from tests.accounts.conftest import csrf_token, sign_in
from tests.support.hostile_provider import DELETE

HOSTILE_NEXT = [
    "//evil.com",
    "/\\evil.com",
    "https://evil.com",
    "http:evil.com",
    "%2F%2Fevil.com",
    "/%2Fevil.com",
    "/%5Cevil.com",
    "\\\\evil.com",
    "/\tevil.com",
    "javascript:alert(1)",
    "/%0d%0aSet-Cookie:x",
    " //evil.com",
    "///evil.com",
    "/%252F%252Fevil.com",
    "/%5C%5Cevil.com",
    "%5C%5Cevil.com",
    "/%09/evil.com",
    "/\n/evil.com",
    "\t//evil.com",
    "https:/evil.com",
    "HTTPS://evil.com",
    "data:text/html,<script>alert(1)</script>",
    "evil.com",
    "/\x00evil",
    "/" + "a" * 3000,
]

BENIGN_NEXT = ["/items?x=1", "/auth/sessions", "/", "/items#top", "/a/b?next=/c"]


@pytest.mark.parametrize("candidate", HOSTILE_NEXT)
def test_safe_next_refuses_hostile_targets(candidate):
    assert safe_next(candidate) == "/"


@pytest.mark.parametrize("candidate", BENIGN_NEXT)
def test_safe_next_keeps_same_origin_paths(candidate):
    assert safe_next(candidate) == candidate


@pytest.mark.parametrize("candidate", [None, "", 42])
def test_safe_next_falls_back_on_nothing(candidate):
    assert safe_next(candidate, default="/home") == "/home"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("candidate", HOSTILE_NEXT)
def test_sign_in_never_redirects_off_site(hostile, bff, browser, candidate):
    response = sign_in(browser, bff, next_path=candidate)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("candidate", ["/items?x=1", "/auth/sessions"])
def test_sign_in_keeps_a_same_origin_next(hostile, bff, browser, candidate):
    response = sign_in(browser, bff, next_path=candidate)
    assert response.status_code == 302
    assert response.headers["Location"] == candidate


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("candidate", HOSTILE_NEXT)
def test_sign_out_without_end_session_endpoint_never_redirects_off_site(
    hostile, bff, browser, candidate
):
    hostile.discovery_overrides["end_session_endpoint"] = DELETE
    assert sign_in(browser, bff).status_code == 302
    response = browser.post(
        f"{bff}/auth/logout",
        data={"next": candidate, "csrfmiddlewaretoken": csrf_token(browser, bff)},
        allow_redirects=False,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/signed-out"


@pytest.mark.django_db(transaction=True)
def test_sign_out_without_end_session_endpoint_keeps_a_same_origin_next(hostile, bff, browser):
    hostile.discovery_overrides["end_session_endpoint"] = DELETE
    assert sign_in(browser, bff).status_code == 302
    response = browser.post(
        f"{bff}/auth/logout",
        data={"next": "/items?x=1", "csrfmiddlewaretoken": csrf_token(browser, bff)},
        allow_redirects=False,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/items?x=1"


LINK = re.compile(r'(?:href|action)="([^"]*)"')


def assert_links_stay_on_site(page: str) -> None:
    """Every link and form target of a page is a same-origin path."""
    links = [html.unescape(link) for link in LINK.findall(page)]
    assert links
    for link in links:
        if link.startswith("#"):  # a place on this page (the skip link)
            continue
        parts = urlsplit(link)
        assert link.startswith("/") and not link.startswith(("//", "/\\")), link
        assert not parts.scheme and not parts.netloc, link


@pytest.mark.django_db
@pytest.mark.parametrize("candidate", HOSTILE_NEXT)
def test_the_provider_unavailable_page_links_back_only_on_site(rf, candidate):
    """The "Try again" link is built from the requested path."""
    request = rf.get("/")
    request.path = request.path_info = candidate
    request.user = AnonymousUser()
    response = provider_unavailable(request, 5)
    assert response.status_code == 503
    assert_links_stay_on_site(response.content.decode())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("candidate", HOSTILE_NEXT[:8])
def test_the_sign_in_failure_page_links_back_only_on_site(hostile, bff, browser, candidate):
    hostile.fail("token", 400)
    response = sign_in(browser, bff, next_path=candidate)
    assert response.status_code == 502
    assert_links_stay_on_site(response.text)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("candidate", HOSTILE_NEXT[:8])
def test_the_provider_chooser_links_only_on_site(hostile, bff, browser, settings, candidate):
    settings.OIDC_PROVIDERS = {
        **settings.OIDC_PROVIDERS,
        "other": {**settings.OIDC_PROVIDERS["hostile"], "display_name": "Other"},
    }
    response = browser.get(f"{bff}/auth/login", params={"next": candidate})
    assert response.status_code == 200
    assert_links_stay_on_site(response.text)
    assert "next=%2F&" in response.text or response.text.count('next=%2F"') == 2
