"""OpenID Connect Back-Channel Logout: the provider ends sessions server to server."""

from __future__ import annotations

import time

import pytest
import requests

from accounts.models import AuditEvent, SeenLogoutToken
from bff.models import TokenSession
from tests.accounts.conftest import sign_in, signed_in
from tests.support.hostile_provider import (
    BACKCHANNEL_LOGOUT_EVENT,
    DELETE,
    hs256_with_public_key,
    sign_rs256,
    tamper_signature,
    unsigned,
)

pytestmark = pytest.mark.django_db(transaction=True)


def post_logout_token(bff: str, token: str | None, provider: str = "hostile") -> requests.Response:
    """The provider's own POST: no browser, no cookies."""
    data = {} if token is None else {"logout_token": token}
    return requests.post(f"{bff}/auth/backchannel-logout/{provider}", data=data, timeout=10)


def cache_directives(response: requests.Response) -> set[str]:
    return {d.strip() for d in response.headers.get("Cache-Control", "").split(",")}


@pytest.fixture
def two_sessions(hostile, bff, new_browser):
    """Two browsers of the same person, each signed in with its own provider sid."""
    browsers = []
    for _ in range(2):
        browser = new_browser()
        assert sign_in(browser, bff).status_code == 302
        browsers.append((browser, TokenSession.objects.get(sid=hostile.issued[-1]["sid"])))
    return browsers


def test_logout_token_with_sid_ends_only_that_session(hostile, bff, two_sessions):
    (first, first_record), (second, _) = two_sessions
    response = post_logout_token(bff, hostile.logout_token(sid=first_record.sid, sub=DELETE))
    assert response.status_code == 200
    assert "no-store" in cache_directives(response)
    assert not signed_in(first, bff)
    assert signed_in(second, bff)
    first_record.refresh_from_db()
    assert first_record.end_reason == TokenSession.EndReason.BACKCHANNEL
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.BACKCHANNEL_LOGOUT)
    assert event.provider == "hostile"
    assert event.reason == "sessions=1"


def test_logout_token_with_sub_ends_every_session_of_that_person(hostile, bff, two_sessions):
    response = post_logout_token(bff, hostile.logout_token())
    assert response.status_code == 200
    assert "no-store" in cache_directives(response)
    for browser, _ in two_sessions:
        assert not signed_in(browser, bff)
    assert not TokenSession.objects.live().exists()


def test_logout_token_with_sid_and_sub_ends_the_matching_session(hostile, bff, two_sessions):
    (first, first_record), (second, _) = two_sessions
    response = post_logout_token(bff, hostile.logout_token(sid=first_record.sid))
    assert response.status_code == 200
    assert not signed_in(first, bff)
    assert signed_in(second, bff)


def test_logout_token_without_typ_is_accepted(hostile, bff, two_sessions):
    response = post_logout_token(bff, hostile.logout_token(header={"typ": DELETE}))
    assert response.status_code == 200
    assert not TokenSession.objects.live().exists()


def test_logout_token_for_nobody_signed_in_is_still_acknowledged(hostile, bff, two_sessions):
    response = post_logout_token(bff, hostile.logout_token(sub="someone-else"))
    assert response.status_code == 200
    assert TokenSession.objects.live().count() == 2


INVALID_LOGOUT_TOKENS = {
    "alg_none": lambda p, sid: unsigned(p.default_header("logout+jwt"), p.logout_claims(sid=sid)),
    "hs256_with_public_key": lambda p, sid: hs256_with_public_key(
        p.default_header("logout+jwt"), p.logout_claims(sid=sid), p.active_key
    ),
    "bad_signature": lambda p, sid: tamper_signature(p.logout_token(sid=sid)),
    "missing_events": lambda p, sid: p.logout_token(sid=sid, events=DELETE),
    "wrong_event": lambda p, sid: p.logout_token(
        sid=sid, events={"http://schemas.openid.net/event/other": {}}
    ),
    "event_not_an_object": lambda p, sid: p.logout_token(
        sid=sid, events={BACKCHANNEL_LOGOUT_EVENT: "yes"}
    ),
    "nonce_present": lambda p, sid: p.logout_token(sid=sid, nonce="n-0S6_WzA2Mj"),
    "wrong_aud": lambda p, sid: p.logout_token(sid=sid, aud="another-client"),
    "wrong_iss": lambda p, sid: p.logout_token(sid=sid, iss="https://evil.example"),
    "missing_jti": lambda p, sid: p.logout_token(sid=sid, jti=DELETE),
    "missing_iat": lambda p, sid: p.logout_token(sid=sid, iat=DELETE),
    "expired": lambda p, sid: p.logout_token(
        sid=sid, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600
    ),
    "missing_sid_and_sub": lambda p, sid: p.logout_token(sid=DELETE, sub=DELETE),
    "wrong_typ": lambda p, sid: p.logout_token(sid=sid, header={"typ": "at+jwt"}),
    "unknown_kid": lambda p, sid: p.logout_token(sid=sid, header={"kid": "forged-kid"}),
    "an_id_token": lambda p, sid: p.issued[-1]["id_token"],
    "not_a_jwt": lambda p, sid: "not-a-jwt",
    "alg_a_list": lambda p, sid: p.logout_token(sid=sid, header={"alg": ["RS256"]}),
    "alg_an_object": lambda p, sid: p.logout_token(sid=sid, header={"alg": {"RS256": 1}}),
    "typ_an_object": lambda p, sid: p.logout_token(sid=sid, header={"typ": {"a": 1}}),
    "kid_a_list": lambda p, sid: p.logout_token(sid=sid, header={"kid": ["key-0"]}),
    "exp_infinite": lambda p, sid: p.logout_token(sid=sid, exp=float("inf")),
    "exp_nan": lambda p, sid: p.logout_token(sid=sid, exp=float("nan")),
    "iat_nan": lambda p, sid: p.logout_token(sid=sid, iat=float("nan")),
    "iat_infinite_past": lambda p, sid: p.logout_token(sid=sid, iat=float("-inf")),
    "iat_far_future": lambda p, sid: p.logout_token(sid=sid, iat=10**20),
    "iat_a_string": lambda p, sid: p.logout_token(sid=sid, iat="1700000000"),
    "jti_an_object": lambda p, sid: p.logout_token(sid=sid, jti={"id": 1}),
    "sid_an_object": lambda p, sid: p.logout_token(sid={"sid": sid}),
    "sub_a_number": lambda p, sid: p.logout_token(sid=sid, sub=12345),
    "sub_too_long": lambda p, sid: p.logout_token(sid=DELETE, sub="s" * 300),
    "events_a_list": lambda p, sid: p.logout_token(sid=sid, events=[BACKCHANNEL_LOGOUT_EVENT]),
    "aud_a_number": lambda p, sid: p.logout_token(sid=sid, aud=7),
    "claims_not_an_object": lambda p, sid: sign_rs256(
        p.default_header("logout+jwt"), [1, 2], p.active_key
    ),
    "two_dots_only": lambda p, sid: "..",
    "huge_garbage": lambda p, sid: "a." * 50_000,
}


@pytest.mark.parametrize("kind", INVALID_LOGOUT_TOKENS, ids=list(INVALID_LOGOUT_TOKENS))
def test_invalid_logout_token_is_refused_and_ends_nothing(hostile, bff, two_sessions, kind):
    sid = two_sessions[0][1].sid
    response = post_logout_token(bff, INVALID_LOGOUT_TOKENS[kind](hostile, sid))
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_request"
    assert "no-store" in cache_directives(response)
    assert TokenSession.objects.live().count() == 2
    for browser, _ in two_sessions:
        assert signed_in(browser, bff)
    # Anyone's noise: logged at a bounded rate, no audit row.
    assert not AuditEvent.objects.exclude(kind=AuditEvent.Kind.SIGN_IN).exists()
    assert SeenLogoutToken.objects.count() == 0


def test_replayed_logout_token_is_refused(hostile, bff, new_browser):
    first = new_browser()
    assert sign_in(first, bff).status_code == 302
    token = hostile.logout_token()
    assert post_logout_token(bff, token).status_code == 200
    assert not signed_in(first, bff)

    # The same person signs in again; the captured token must not end the new session.
    second = new_browser()
    assert sign_in(second, bff).status_code == 302
    replay = post_logout_token(bff, token)
    assert replay.status_code == 400
    assert "jti replayed" in replay.json()["message"]
    assert signed_in(second, bff)


def test_missing_logout_token_is_refused(hostile, bff, two_sessions):
    response = post_logout_token(bff, None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert TokenSession.objects.live().count() == 2


def test_logout_token_for_an_unknown_provider_is_refused(hostile, bff, two_sessions):
    response = post_logout_token(bff, hostile.logout_token(), provider="nope")
    assert response.status_code == 400
    assert TokenSession.objects.live().count() == 2


def test_logout_endpoint_answers_only_post(hostile, bff):
    response = requests.get(f"{bff}/auth/backchannel-logout/hostile", timeout=10)
    assert response.status_code == 405


def test_logout_token_without_exp_older_than_the_replay_memory_is_refused(
    hostile, bff, two_sessions
):
    """Without `exp` a jti is remembered for a while only: an older token could be replayed."""
    three_days_ago = int(time.time()) - 3 * 24 * 3600
    response = post_logout_token(bff, hostile.logout_token(exp=DELETE, iat=three_days_ago))
    assert response.status_code == 400
    assert TokenSession.objects.live().count() == 2


def test_recent_logout_token_without_exp_is_accepted(hostile, bff, two_sessions):
    response = post_logout_token(bff, hostile.logout_token(exp=DELETE))
    assert response.status_code == 200
    assert not TokenSession.objects.live().exists()


def test_long_jtis_sharing_a_prefix_are_two_tokens(hostile, bff, new_browser):
    """jtis are compared whole (as digests), never cut to a column's length."""
    prefix = "j" * 300
    for suffix in ("-one", "-two"):
        browser = new_browser()
        assert sign_in(browser, bff).status_code == 302
        response = post_logout_token(bff, hostile.logout_token(jti=prefix + suffix))
        assert response.status_code == 200, response.text
        assert not signed_in(browser, bff)
    replay = post_logout_token(bff, hostile.logout_token(jti=prefix + "-one"))
    assert replay.status_code == 400
