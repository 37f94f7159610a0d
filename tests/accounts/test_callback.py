"""The sign-in round trip: state, iss, PKCE, provider errors, tabs, and the provider's health."""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.models import AuditEvent
from bff.logging import JsonFormatter
from bff.models import BrowserSession as Session
from bff.models import TokenSession
from tests.accounts.conftest import (
    assert_sign_in_rejected,
    authorize,
    failure_reasons,
    sign_in,
    signed_in,
    start_sign_in,
)
from tests.support.hostile_provider import DELETE, s256

pytestmark = pytest.mark.django_db(transaction=True)

BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def test_replayed_callback_is_rejected(hostile, bff, browser):
    callback_url = authorize(browser, start_sign_in(browser, bff))
    assert browser.get(callback_url, allow_redirects=False).status_code == 302
    first = TokenSession.objects.live().get()

    replay = browser.get(callback_url, allow_redirects=False)
    assert replay.status_code == 400
    assert "expired or was already used" in replay.text
    assert "<code>unknown_state</code>" in replay.text
    assert hostile.calls["token"] == 1  # the code was never sent again
    assert list(TokenSession.objects.live()) == [first]


def test_captured_callback_replayed_by_another_browser_is_rejected(hostile, bff, new_browser):
    victim, attacker = new_browser(), new_browser()
    callback_url = authorize(victim, start_sign_in(victim, bff))
    assert victim.get(callback_url, allow_redirects=False).status_code == 302

    replay = attacker.get(callback_url, allow_redirects=False)
    assert replay.status_code == 400
    assert not signed_in(attacker, bff)
    assert hostile.calls["token"] == 1
    assert TokenSession.objects.live().count() == 1


def test_callback_with_another_browsers_state_is_rejected(hostile, bff, new_browser):
    victim, attacker = new_browser(), new_browser()
    started = start_sign_in(attacker, bff)
    attackers_callback = authorize(attacker, started)

    # Login CSRF: the attacker makes the victim's browser finish the attacker's sign-in.
    response = victim.get(attackers_callback, allow_redirects=False)
    assert_sign_in_rejected(response, victim, bff, hostile, reason="unknown_state")
    assert hostile.calls["token"] == 0

    # The attacker's own pending sign-in is unaffected.
    assert attacker.get(attackers_callback, allow_redirects=False).status_code == 302
    assert signed_in(attacker, bff)


@pytest.mark.parametrize("state", [None, "", "forged-state", "x" * 5000])
def test_callback_with_a_forged_or_missing_state_is_rejected(hostile, bff, browser, state):
    callback_url = authorize(browser, start_sign_in(browser, bff))
    code = parse_qs(urlsplit(callback_url).query)["code"][0]
    params = {"code": code} if state is None else {"code": code, "state": state}
    response = browser.get(f"{bff}/auth/callback/hostile", params=params, allow_redirects=False)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="unknown_state")
    assert hostile.calls["token"] == 0


def test_callback_for_an_unknown_provider_is_not_found(hostile, bff, browser):
    response = browser.get(f"{bff}/auth/callback/nope?state=x&code=y", allow_redirects=False)
    assert response.status_code == 404
    assert "Traceback" not in response.text


def test_iss_parameter_of_another_issuer_is_rejected(hostile, bff, browser):
    hostile.iss_param = "https://evil.example"
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="iss_mismatch")
    assert hostile.calls["token"] == 0


def test_matching_iss_parameter_is_accepted(hostile, bff, browser):
    hostile.discovery_overrides["authorization_response_iss_parameter_supported"] = True
    hostile.iss_param = hostile.issuer
    assert sign_in(browser, bff).status_code == 302
    assert signed_in(browser, bff)


def test_missing_iss_parameter_is_rejected_when_the_provider_promises_it(hostile, bff, browser):
    hostile.discovery_overrides["authorization_response_iss_parameter_supported"] = True
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="iss_missing")
    assert hostile.calls["token"] == 0


def test_discovery_issuer_other_than_configured_fails_cleanly(hostile, bff, browser):
    hostile.discovery_overrides["issuer"] = "https://evil.example"
    response = browser.get(f"{bff}/auth/login?next=/", allow_redirects=False)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="discovery:issuer_mismatch")
    assert hostile.calls["authorize"] == 0


def test_provider_unreachable_at_login_fails_cleanly(hostile, bff, browser):
    hostile.fail("discovery", 503)
    response = browser.get(f"{bff}/auth/login?next=/", allow_redirects=False)
    assert_sign_in_rejected(response, browser, bff, hostile, status=503)
    assert "unavailable" in response.text


def test_token_endpoint_failure_fails_cleanly(hostile, bff, browser):
    hostile.fail("token", 500)
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, status=503)


def test_token_endpoint_refusing_the_code_fails_cleanly(hostile, bff, browser):
    hostile.fail("token", 400)
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, status=502)


def without_profile_in_the_id_token(hostile) -> None:
    """ID tokens that carry no name or email, as some providers issue them."""
    hostile.mutate_id_token(email=DELETE, name=DELETE)


def test_userinfo_is_not_asked_when_the_id_token_has_the_profile(hostile, bff, browser):
    assert sign_in(browser, bff).status_code == 302
    assert signed_in(browser, bff)
    assert hostile.calls["userinfo"] == 0


@pytest.mark.parametrize("status", [401, 403, 404, 500])
def test_userinfo_refusing_the_access_token_never_blocks_sign_in(hostile, bff, browser, status):
    """An access token minted for an API is refused at UserInfo: sign in on the ID token."""
    without_profile_in_the_id_token(hostile)
    hostile.fail("userinfo", status)
    response = sign_in(browser, bff)
    assert response.status_code == 302, response.text
    assert signed_in(browser, bff)
    assert hostile.calls["userinfo"] == 1
    assert TokenSession.objects.live().get().subject == hostile.subject


@pytest.mark.parametrize("status, answer", [(401, 502), (404, 502), (500, 503)])
def test_required_userinfo_that_cannot_be_read_fails_with_the_step_named(
    hostile, bff, browser, settings, status, answer
):
    settings.OIDC_PROVIDERS = {
        "hostile": {**settings.OIDC_PROVIDERS["hostile"], "userinfo": "required"}
    }
    hostile.fail("userinfo", status)
    response = sign_in(browser, bff)
    assert response.status_code == answer
    assert "Sign-in failed" in response.text
    assert not signed_in(browser, bff)
    assert not TokenSession.objects.live().exists()
    expected = f"userinfo:{status}" if status < 500 else "userinfo:unavailable"
    assert expected in failure_reasons()
    assert expected in response.text


def test_userinfo_fills_in_a_profile_the_id_token_lacks(hostile, bff, browser):
    without_profile_in_the_id_token(hostile)
    assert sign_in(browser, bff).status_code == 302
    user = TokenSession.objects.live().get().user
    assert (user.email, user.name) == ("alice@hostile.test", "Alice Hostile")
    assert hostile.calls["userinfo"] == 1


def test_access_denied_shows_a_clear_page_with_try_again(hostile, bff, browser):
    hostile.authorize_hook = lambda params: {
        "error": "access_denied",
        "error_description": "The user said no",
        "state": params["state"],
    }
    response = sign_in(browser, bff, next_path="/items")
    assert_sign_in_rejected(response, browser, bff, hostile, reason="provider_error:access_denied")
    assert response.status_code == 400
    assert "Sign-in was cancelled." in response.text
    assert 'href="/auth/login?next=%2Fitems"' in response.text
    assert hostile.calls["token"] == 0


def test_provider_error_text_is_escaped(hostile, bff, browser):
    hostile.authorize_hook = lambda params: {
        "error": "<script>alert(1)</script>",
        "state": params["state"],
    }
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile)
    assert "<script>alert(1)</script>" not in response.text


def test_callback_without_code_is_rejected(hostile, bff, browser):
    hostile.authorize_hook = lambda params: {"state": params["state"]}
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="code_missing")


def test_two_tabs_finished_in_reverse_order_both_succeed(hostile, bff, browser):
    first_tab = authorize(browser, start_sign_in(browser, bff, next_path="/items"))
    second_tab = authorize(browser, start_sign_in(browser, bff, next_path="/auth/sessions"))

    second = browser.get(second_tab, allow_redirects=False)
    assert second.status_code == 302
    assert second.headers["Location"] == "/auth/sessions"
    first = browser.get(first_tab, allow_redirects=False)
    assert first.status_code == 302, first.text
    assert first.headers["Location"] == "/items"

    assert signed_in(browser, bff)
    assert TokenSession.objects.live().count() == 1  # the later sign-in replaced the earlier
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.SIGN_IN).count() == 2


def test_state_nonce_and_verifier_are_long_random_and_pkce_is_s256(hostile, bff, new_browser):
    for _ in range(2):
        assert sign_in(new_browser(), bff).status_code == 302
    seen = []
    for request, token_request in zip(
        hostile.authorize_requests, hostile.token_requests, strict=True
    ):
        state, nonce = request["state"], request["nonce"]
        verifier = token_request["form"]["code_verifier"]
        for value in (state, nonce, verifier):
            assert BASE64URL.match(value)
            assert len(value) >= 22  # 22 base64url characters: 132 bits
        assert 43 <= len(verifier) <= 128  # RFC 7636 4.1
        assert request["code_challenge_method"] == "S256"
        assert request["code_challenge"] == s256(verifier)
        assert token_request["pkce_ok"]
        assert request["response_type"] == "code"
        assert "openid" in request["scope"].split()
        seen += [state, nonce, verifier]
    assert len(set(seen)) == len(seen)


def test_the_code_exchange_authenticates_the_client(hostile, bff, browser):
    assert sign_in(browser, bff).status_code == 302
    token_request = hostile.last_token_request
    assert token_request["authorization"].startswith("Basic ")
    assert token_request["form"]["grant_type"] == "authorization_code"
    assert token_request["form"]["redirect_uri"] == f"{bff}/auth/callback/hostile"


def test_provider_error_code_cannot_forge_log_lines(hostile, bff, browser):
    hostile.authorize_hook = lambda params: {
        "error": "access_denied\nWARNING sign-in ok user=admin",
        "state": params["state"],
    }
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile)
    (reason,) = failure_reasons()
    assert "\n" not in reason and "\r" not in reason


def test_callback_at_another_providers_url_is_rejected(hostile, bff, browser, settings):
    """Mix-up: a sign-in started with one provider cannot finish at another's callback."""
    settings.OIDC_PROVIDERS = {
        **settings.OIDC_PROVIDERS,
        "other": {**settings.OIDC_PROVIDERS["hostile"], "client_id": "other-client"},
    }
    callback_url = authorize(browser, start_sign_in(browser, bff, provider="hostile"))
    mixed_up = callback_url.replace("/auth/callback/hostile", "/auth/callback/other")
    response = browser.get(mixed_up, allow_redirects=False)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="unknown_state")
    assert hostile.calls["token"] == 0


def test_oldest_pending_sign_in_is_dropped_beyond_the_limit(hostile, bff, browser, settings):
    settings.OIDC_MAX_PENDING_LOGINS = 3
    callbacks = [authorize(browser, start_sign_in(browser, bff)) for _ in range(4)]
    response = browser.get(callbacks[0], allow_redirects=False)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="unknown_state")
    assert browser.get(callbacks[-1], allow_redirects=False).status_code == 302
    assert signed_in(browser, bff)


def test_expired_pending_sign_in_is_rejected(hostile, bff, browser, settings):
    settings.OIDC_LOGIN_STATE_TTL_SECONDS = 0
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="unknown_state")
    assert hostile.calls["token"] == 0


def test_starting_a_sign_in_makes_no_session_and_signing_in_sets_one(hostile, bff, browser):
    callback_url = authorize(browser, start_sign_in(browser, bff))
    assert browser.cookies.get("bff_session", domain="127.0.0.1") is None
    assert not Session.objects.exists()
    response = browser.get(callback_url, allow_redirects=False)
    assert response.status_code == 302
    assert browser.cookies.get("bff_session", domain="127.0.0.1")
    assert [c.name for c in browser.cookies] == ["bff_session"]  # the sign-in cookie is gone
    (session_cookie,) = [
        c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("bff_session=")
    ]
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie


def test_signing_in_again_as_the_same_user_rotates_the_session_key(hostile, bff, browser):
    started = start_sign_in(browser, bff)  # tab one starts signing in
    assert sign_in(browser, bff).status_code == 302  # tab two signs in meanwhile
    first = browser.cookies.get("bff_session", domain="127.0.0.1")
    callback_url = authorize(browser, started)  # tab one's sign-in finishes: the same user
    assert browser.get(callback_url, allow_redirects=False).status_code == 302
    second = browser.cookies.get("bff_session", domain="127.0.0.1")
    assert second and second != first
    assert not Session.objects.filter(session_key=first).exists()
    assert signed_in(browser, bff)


def test_no_code_token_or_secret_reaches_the_logs(hostile, bff, new_browser, caplog):
    caplog.set_level(logging.DEBUG)
    good, bad = new_browser(), new_browser()
    assert sign_in(good, bff).status_code == 302
    hostile.mutate_id_token(nonce="wrong")
    assert sign_in(bad, bff).status_code == 400
    secrets = [hostile.client_secret]
    for issued in hostile.issued:
        secrets += [issued["access_token"], issued["refresh_token"], issued["id_token"]]
    for request, token_request in zip(
        hostile.authorize_requests, hostile.token_requests, strict=True
    ):
        secrets += [token_request["form"]["code"], token_request["form"]["code_verifier"]]
        secrets += [request["state"], request["nonce"]]
    # Not the BFF's: the hostile provider's (werkzeug) and this test's own requests (as the
    # browser) — urllib3 lines from this thread or naming the BFF's address.
    bff_address = bff.split("//", 1)[1]
    test_thread = threading.get_ident()

    def is_bffs(record: logging.LogRecord) -> bool:
        if record.name == "werkzeug":
            return False
        if record.name.startswith("urllib3"):
            return record.thread != test_thread and bff_address not in record.getMessage()
        return True

    bff_log = "\n".join(r.getMessage() for r in caplog.records if is_bffs(r))
    # The same records as LOG_FORMAT=json writes them, with their extra fields (Django's
    # `request` among them, whose text would carry the callback's code).
    json_log = "\n".join(JsonFormatter().format(r) for r in caplog.records if is_bffs(r))
    assert bff_log
    for secret in secrets:
        assert secret not in bff_log
        assert secret not in json_log


def test_same_email_at_another_sub_is_another_user(hostile, bff, new_browser):
    """Accounts are linked by (issuer, sub), never by email: no takeover by a shared address."""
    alice = new_browser()
    assert sign_in(alice, bff).status_code == 302
    hostile.subject = "hostile-mallory"  # same email and name claims as alice
    mallory = new_browser()
    assert sign_in(mallory, bff).status_code == 302
    users = {record.subject: record.user_id for record in TokenSession.objects.live()}
    assert users.keys() == {"hostile-alice", "hostile-mallory"}
    assert users["hostile-alice"] != users["hostile-mallory"]
    assert alice.get(f"{bff}/auth/session").json()["user"]["sub"] == "hostile-alice"


def test_finishing_a_tab_as_another_person_replaces_the_first_session(hostile, bff, browser):
    first_tab = authorize(browser, start_sign_in(browser, bff))
    second_tab = authorize(browser, start_sign_in(browser, bff))
    assert browser.get(first_tab, allow_redirects=False).status_code == 302
    hostile.subject = "hostile-bob"
    response = browser.get(second_tab, allow_redirects=False)
    # login() flushes the session for another person; this tab's state was read before that.
    assert response.status_code == 302, response.text
    assert browser.get(f"{bff}/auth/session").json()["user"]["sub"] == "hostile-bob"
    (live,) = TokenSession.objects.live()
    assert live.subject == "hostile-bob"
    replaced = TokenSession.objects.get(subject="hostile-alice")
    assert replaced.end_reason == TokenSession.EndReason.REPLACED


def test_configured_scopes_are_requested(hostile, bff, new_browser):
    assert sign_in(new_browser(), bff).status_code == 302
    assert hostile.authorize_requests[-1]["scope"].split() == [
        "openid",
        "profile",
        "email",
        "offline_access",
    ]


def test_offline_access_is_left_out_where_the_provider_lists_scopes_without_it(
    hostile, bff, new_browser
):
    """Google lists openid, email, profile and refuses offline_access."""
    hostile.discovery_overrides["scopes_supported"] = ["openid", "email", "profile"]
    assert sign_in(new_browser(), bff).status_code == 302
    assert hostile.authorize_requests[-1]["scope"].split() == ["openid", "profile", "email"]
