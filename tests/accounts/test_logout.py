"""RP-initiated sign-out: revocation, the end-session redirect, CSRF, a provider that is down."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.models import AuditEvent
from bff.models import TokenSession
from oidc.provider import reset_providers
from tests.accounts.conftest import csrf_token, sign_in, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/revoke"


def post_logout(browser, bff, **data):
    data.setdefault("csrfmiddlewaretoken", csrf_token(browser, bff))
    return browser.post(f"{bff}/auth/logout", data=data, allow_redirects=False)


def assert_signed_out(browser, bff, record: TokenSession) -> None:
    assert not signed_in(browser, bff)
    record.refresh_from_db()
    assert record.ended_at is not None
    assert record.end_reason == TokenSession.EndReason.LOGOUT
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGN_OUT, user=record.user).exists()


def test_sign_out_sends_the_id_token_hint_where_the_provider_needs_it(
    hostile, bff, browser, settings
):
    settings.OIDC_PROVIDERS = {
        "hostile": {**settings.OIDC_PROVIDERS["hostile"], "logout_id_token_hint": "true"}
    }
    assert sign_in(browser, bff).status_code == 302
    response = post_logout(browser, bff)
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["id_token_hint"] == [hostile.issued[-1]["id_token"]]
    assert query["client_id"] == [hostile.client_id]


def test_sign_out_revokes_and_sends_the_browser_to_end_session(hostile, bff, browser):
    assert sign_in(browser, bff).status_code == 302
    record = TokenSession.objects.live().get()
    issued = hostile.issued[-1]

    response = post_logout(browser, bff)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == hostile.endpoint(
        "end_session"
    )
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert "id_token_hint" not in query  # the name and email stay out of the history
    assert query["post_logout_redirect_uri"] == f"{bff}/auth/signed-out"
    assert len(query["state"]) >= 22
    assert query["client_id"] == hostile.client_id

    assert len(hostile.revoked) == 1
    assert hostile.revoked[0]["token"] == issued["refresh_token"]
    assert hostile.revoked[0]["token_type_hint"] == "refresh_token"
    assert hostile.revoked[0]["authorization"].startswith("Basic ")
    assert_signed_out(browser, bff, record)


def test_get_logout_only_asks_and_changes_nothing(hostile, bff, browser):
    assert sign_in(browser, bff).status_code == 302
    page = browser.get(f"{bff}/auth/logout", allow_redirects=False)
    assert page.status_code == 200
    assert '<form method="post" action="/auth/logout">' in page.text
    assert signed_in(browser, bff)
    assert TokenSession.objects.live().count() == 1
    assert hostile.revoked == []


@pytest.mark.parametrize("token", [None, "wrong-token-" + "x" * 20])
def test_sign_out_without_a_valid_csrf_token_is_refused(hostile, bff, browser, token):
    assert sign_in(browser, bff).status_code == 302
    csrf_token(browser, bff)  # the cookie is there; only the form field is missing or wrong
    data = {} if token is None else {"csrfmiddlewaretoken": token}
    response = browser.post(f"{bff}/auth/logout", data=data, allow_redirects=False)
    assert response.status_code == 403
    assert signed_in(browser, bff)
    assert TokenSession.objects.live().count() == 1
    assert hostile.revoked == []
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGN_OUT).exists()


def test_sign_out_with_the_csrf_header_works(hostile, bff, browser):
    assert sign_in(browser, bff).status_code == 302
    record = TokenSession.objects.live().get()
    response = browser.post(
        f"{bff}/auth/logout",
        headers={"X-CSRFToken": csrf_token(browser, bff)},
        allow_redirects=False,
    )
    assert response.status_code == 302
    assert_signed_out(browser, bff, record)


def test_revocation_failure_still_signs_out_locally(hostile, bff, browser):
    assert sign_in(browser, bff).status_code == 302
    record = TokenSession.objects.live().get()
    hostile.fail("revocation", 500)
    response = post_logout(browser, bff)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(hostile.endpoint("end_session"))
    assert hostile.calls["revocation"] == 1
    assert_signed_out(browser, bff, record)


def test_unreachable_revocation_endpoint_still_signs_out_locally(hostile, bff, browser):
    hostile.discovery_overrides["revocation_endpoint"] = closed_port_url()
    assert sign_in(browser, bff).status_code == 302
    record = TokenSession.objects.live().get()
    response = post_logout(browser, bff)
    assert response.status_code == 302
    assert_signed_out(browser, bff, record)


def test_provider_entirely_down_still_signs_out_locally(hostile, bff, browser):
    assert sign_in(browser, bff).status_code == 302
    record = TokenSession.objects.live().get()
    reset_providers()  # forget the cached discovery document too
    for endpoint in ("discovery", "revocation", "end_session", "jwks", "token"):
        hostile.fail(endpoint, 503)
    response = post_logout(browser, bff, next="/items")
    assert response.status_code == 302
    assert response.headers["Location"] == "/items"  # no end-session endpoint known
    assert_signed_out(browser, bff, record)


def test_sign_out_works_after_the_provider_was_removed_from_the_settings(
    hostile, bff, browser, settings
):
    assert sign_in(browser, bff).status_code == 302
    record = TokenSession.objects.live().get()
    settings.OIDC_PROVIDERS = {"other": {**settings.OIDC_PROVIDERS["hostile"]}}
    reset_providers()
    response = post_logout(browser, bff)
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/signed-out"
    assert_signed_out(browser, bff, record)
