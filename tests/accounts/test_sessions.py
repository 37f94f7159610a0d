"""The user's view of their sessions: /auth/session (JSON), /auth/sessions (page), the audit log."""

from __future__ import annotations

from datetime import datetime

import pytest
import requests

from accounts.models import AuditEvent
from bff.models import TokenSession
from tests.accounts.conftest import csrf_token, sign_in, signed_in
from tests.support.hostile_provider import DELETE

pytestmark = pytest.mark.django_db(transaction=True)

Kind = AuditEvent.Kind


def signed_in_browsers(hostile, bff, new_browser, count):
    """`count` browsers signed in, each with its session record."""
    browsers = []
    for _ in range(count):
        browser = new_browser()
        assert sign_in(browser, bff).status_code == 302
        browsers.append((browser, TokenSession.objects.get(sid=hostile.issued[-1]["sid"])))
    return browsers


def end_sessions(browser, bff, **data) -> requests.Response:
    data["csrfmiddlewaretoken"] = csrf_token(browser, bff)
    return browser.post(f"{bff}/auth/sessions", data=data, allow_redirects=False)


def test_session_json_describes_the_user_and_expiry_without_tokens(hostile, bff, browser):
    assert sign_in(browser, bff).status_code == 302
    response = browser.get(f"{bff}/auth/session")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    body = response.json()
    assert body["user"] == {
        "name": "Alice Hostile",
        "email": "alice@hostile.test",
        "sub": hostile.subject,
    }
    assert body["provider"] == "hostile"
    assert body["issuer"] == hostile.issuer
    started = datetime.fromisoformat(body["session"]["started_at"])
    expires = datetime.fromisoformat(body["session"]["expires_at"])
    absolute = datetime.fromisoformat(body["session"]["absolute_expires_at"])
    assert started < expires <= absolute

    issued = hostile.issued[-1]
    for token in (issued["access_token"], issued["refresh_token"], issued["id_token"]):
        assert token not in response.text
    assert issued["id_token"].rsplit(".", 1)[-1] not in response.text
    assert "token" not in " ".join(_keys(body)).lower()


def _keys(value) -> list[str]:
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in (key, *_keys(item))]
    return []


def test_session_json_is_401_when_signed_out(hostile, bff, browser):
    response = browser.get(f"{bff}/auth/session")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "not_signed_in"
    assert body["login_url"].startswith("/auth/login")


def test_sessions_page_needs_a_session(hostile, bff, browser):
    response = browser.get(f"{bff}/auth/sessions", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_sessions_page_lists_every_live_session(hostile, bff, new_browser):
    (first, first_record), (_, second_record) = signed_in_browsers(hostile, bff, new_browser, 2)
    page = first.get(f"{bff}/auth/sessions")
    assert page.status_code == 200
    assert str(first_record.pk) in page.text
    assert str(second_record.pk) in page.text
    assert page.text.count("(this browser)") == 1
    assert page.text.count(">End session</button>") == 2
    assert "Sign out everywhere else" in page.text
    for record in (first_record, second_record):
        for token in (record.tokens.access_token, record.tokens.refresh_token):
            assert token not in page.text


def test_ending_another_session_signs_that_browser_out(hostile, bff, new_browser):
    (first, _), (second, second_record) = signed_in_browsers(hostile, bff, new_browser, 2)
    response = end_sessions(first, bff, session=str(second_record.pk))
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/sessions"
    assert not signed_in(second, bff)
    assert signed_in(first, bff)
    second_record.refresh_from_db()
    assert second_record.end_reason == TokenSession.EndReason.ENDED_BY_USER
    assert [r["token"] for r in hostile.revoked] == [second_record.tokens.refresh_token]
    event = AuditEvent.objects.get(kind=Kind.SESSION_ENDED_BY_USER)
    assert event.user == second_record.user
    assert event.provider == "hostile"


def test_sign_out_everywhere_else_keeps_the_current_session(hostile, bff, new_browser):
    browsers = signed_in_browsers(hostile, bff, new_browser, 3)
    (current, current_record), others = browsers[0], browsers[1:]
    response = end_sessions(current, bff, action="end_others")
    assert response.status_code == 302
    assert signed_in(current, bff)
    for browser, _ in others:
        assert not signed_in(browser, bff)
    assert list(TokenSession.objects.live()) == [current_record]
    assert AuditEvent.objects.filter(kind=Kind.SESSION_ENDED_BY_USER).count() == 2


def test_ending_the_current_session_is_a_sign_out(hostile, bff, new_browser):
    """Provider logout included: the browser goes to the provider's end-session endpoint."""
    ((browser, record),) = signed_in_browsers(hostile, bff, new_browser, 1)
    response = end_sessions(browser, bff, session=str(record.pk))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(hostile.endpoint("end_session"))
    assert not signed_in(browser, bff)
    record.refresh_from_db()
    assert record.end_reason == TokenSession.EndReason.LOGOUT
    assert [r["token"] for r in hostile.revoked] == [record.tokens.refresh_token]


def test_another_persons_session_cannot_be_ended(hostile, bff, new_browser):
    ((mallory, _),) = signed_in_browsers(hostile, bff, new_browser, 1)
    hostile.subject = "hostile-bob"
    ((bob, bob_record),) = signed_in_browsers(hostile, bff, new_browser, 1)
    assert bob_record.subject == "hostile-bob"
    response = end_sessions(mallory, bff, session=str(bob_record.pk))
    assert response.status_code == 404
    assert signed_in(bob, bff)
    response = end_sessions(mallory, bff, action="end_others")
    assert signed_in(bob, bff)


@pytest.mark.parametrize("session", ["not-a-uuid", "", "00000000-0000-0000-0000-000000000000"])
def test_ending_a_bogus_session_id_is_not_found(hostile, bff, new_browser, session):
    ((browser, _),) = signed_in_browsers(hostile, bff, new_browser, 1)
    assert end_sessions(browser, bff, session=session).status_code == 404
    assert signed_in(browser, bff)


def test_ending_a_session_needs_the_csrf_token(hostile, bff, new_browser):
    (first, _), (second, second_record) = signed_in_browsers(hostile, bff, new_browser, 2)
    csrf_token(first, bff)
    response = first.post(
        f"{bff}/auth/sessions", data={"session": str(second_record.pk)}, allow_redirects=False
    )
    assert response.status_code == 403
    assert signed_in(second, bff)


def test_audit_log_records_the_life_of_a_session(hostile, bff, new_browser):
    failed = new_browser()
    hostile.mutate_id_token(nonce=DELETE)
    assert sign_in(failed, bff).status_code == 400
    hostile.id_token_hook = None

    browsers = signed_in_browsers(hostile, bff, new_browser, 3)
    (first, first_record), (second, second_record), (third, third_record) = browsers
    user = first_record.user
    end_sessions(first, bff, session=str(second_record.pk))
    token = hostile.logout_token(sid=third_record.sid, sub=DELETE)
    assert (
        requests.post(
            f"{bff}/auth/backchannel-logout/hostile", data={"logout_token": token}, timeout=10
        ).status_code
        == 200
    )
    assert (
        first.post(
            f"{bff}/auth/logout",
            data={"csrfmiddlewaretoken": csrf_token(first, bff)},
            allow_redirects=False,
        ).status_code
        == 302
    )
    assert not any(signed_in(b, bff) for b in (first, second, third))

    events = {kind: list(AuditEvent.objects.filter(kind=kind)) for kind in Kind.values}
    (failure,) = events[Kind.SIGN_IN_FAILED]
    assert failure.reason == "id_token:wrong nonce"
    assert failure.provider == "hostile"
    assert failure.user is None
    assert len(events[Kind.SIGN_IN]) == 3
    assert all(e.user == user and e.provider == "hostile" for e in events[Kind.SIGN_IN])
    assert [e.user for e in events[Kind.SESSION_ENDED_BY_USER]] == [user]
    assert [e.reason for e in events[Kind.BACKCHANNEL_LOGOUT]] == ["sessions=1"]
    assert [(e.user, e.provider) for e in events[Kind.SIGN_OUT]] == [(user, "hostile")]
    for event in AuditEvent.objects.exclude(kind=Kind.BACKCHANNEL_LOGOUT):
        assert event.ip_address == "127.0.0.1"
        assert event.user_agent.startswith("Mozilla/5.0 (test browser")
