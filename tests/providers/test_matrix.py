"""The BFF against OpenID Providers nobody here wrote (issue 9, item 3).

Implementations, installed from their registries:

- npm `oidc-provider` 9.13.3 (panva; OpenID Certified), tests/support/node_op/server.mjs;
- PyPI `oidc-provider-mock` 0.3.4 (Flask + authlib), tests/support/mock_op.py.

Each shape signs in through the provider's own pages, calls /api/echo (the upstream must see
the session's current access token), moves the access token into the refresh window and
fires 50 concurrent /api calls (exactly one refresh grant at the provider, 50 x 200), then
signs out (the session record ends; where the provider has a revocation endpoint the
refresh token is revoked, RFC 7009).

Shapes and who covers them:

| shape                                                   | oidc-provider      | mock |
|---------------------------------------------------------|--------------------|------|
| JWT access token for an API (RFC 8707), UserInfo 401    | npm_api            | -    |
| userinfo "required" + UserInfo 401 fails sign-in        | npm_api            | -    |
| rotating refresh tokens, reuse revokes the grant        | npm_rotating       | -    |
| no rotation: same refresh token back / none back        | npm_fixed (same)   | none |
| refresh response with a new ID token                    | npm_rotating       | -    |
| refresh response without an ID token                    | -                  | yes  |
| opaque access tokens, lifetime only from expires_in     | npm_rotating       | yes  |
| client_secret_post only, no revocation, no end-session  | npm_post_only      | -    |
|   (client_auth_method set, and chosen from discovery)   |                    |      |
| back-channel logout carrying sid                        | npm_rotating       | -    |
| RFC 9207 iss in the authorization response              | npm_rotating       | -    |
|   (and a callback without it, or with another, refused)  |                    |      |
| signing key rotated while signed in                     | npm_restartable    | -    |

The mock cannot take the other shapes: it never rotates refresh tokens, never returns an
ID token on refresh (so a key rotation never reaches a signed-in session), accepts only
client_secret_basic at its refresh grant, has no revocation endpoint, no resource
indicators, no back-channel logout and no `iss` authorization response parameter.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import jwt
import pytest
import requests

from bff.models import TokenSession
from tests.accounts.conftest import csrf_token
from tests.bff.conftest import make_due
from tests.providers.conftest import ACCESS_TOKEN_TTL, API_RESOURCE, Walk
from tests.providers.ops import NODE_OP_DIR, RunningOP, discovery, signing_key, token_request
from tests.support.servers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

API = {"X-CSRF": "1"}
STORM = 50
EndReason = TokenSession.EndReason


# --- The steps every shape walks ---------------------------------------------------------------


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def failure_reason(page: requests.Response) -> str:
    match = re.search(r"Reason: <code>([^<]*)</code>", page.text)
    return match.group(1) if match else f"(no reason on a {page.status_code} page)"


def start_sign_in(walk: Walk) -> str:
    """From /auth/login through the provider's pages; return the callback URL it sends."""
    started = walk.browser.get(f"{walk.bff}/auth/login?next=/", allow_redirects=False)
    assert started.status_code == 302, started.text
    back = walk.op.sign_in(walk.browser, started.headers["Location"])
    callback_url = back.headers["Location"]
    assert callback_url.startswith(f"{walk.bff}/auth/callback/oidc?"), callback_url
    return callback_url


def sign_in(walk: Walk) -> TokenSession:
    walk.callback_url = start_sign_in(walk)
    done = walk.browser.get(walk.callback_url, allow_redirects=False)
    assert done.status_code == 302, f"sign-in failed: {failure_reason(done)}"
    assert done.headers["Location"] == "/"
    record = walk.record
    assert record.subject == walk.op.account.sub
    assert record.issuer == walk.op.issuer
    return record


def call_echo(walk: Walk) -> None:
    """One /api call: the upstream sees the session's current access token, no cookie."""
    walk.echo.reset()
    response = walk.browser.get(f"{walk.bff}/api/echo/profile?x=1", headers=API)
    assert response.status_code == 200, response.text
    (seen,) = walk.echo.seen
    assert seen["path"] == "/base/profile"
    assert seen["headers"]["authorization"] == f"Bearer {walk.record.tokens.access_token}"
    assert "cookie" not in seen["headers"]


def fire_together(walk: Walk, count: int = STORM) -> list[int]:
    """`count` /api calls at once from one session (threads released by one barrier)."""
    barrier = threading.Barrier(count)
    cookies = {"bff_session": walk.browser.cookies.get("bff_session")}

    def one(index: int) -> int:
        with requests.Session() as session:
            session.cookies.update(cookies)
            barrier.wait()
            url = f"{walk.bff}/api/echo/storm/{index}"
            return session.get(url, headers=API, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def storm(walk: Walk) -> tuple[TokenSession, TokenSession]:
    """Due access token, 50 concurrent calls: one refresh grant, 50 x 200, one new token."""
    grants = walk.op.proxy.refresh_grants
    before = make_due()
    walk.echo.reset()
    statuses = fire_together(walk)
    after = TokenSession.objects.get(pk=before.pk)
    assert statuses == [200] * STORM, sorted(set(statuses))
    assert walk.op.proxy.refresh_grants - grants == 1
    assert after.is_live, after.end_reason
    assert after.version == before.version + 1
    assert after.tokens.access_token != before.tokens.access_token
    bearers = {seen["headers"]["authorization"] for seen in walk.echo.seen}
    assert len(walk.echo.seen) == STORM
    assert bearers == {f"Bearer {after.tokens.access_token}"}
    return before, after


def refresh_once_more(walk: Walk) -> TokenSession:
    """Due again: one call refreshes with what the storm left (the chain is intact)."""
    grants = walk.op.proxy.refresh_grants
    make_due()
    response = walk.browser.get(f"{walk.bff}/api/echo/again", headers=API)
    assert response.status_code == 200, response.text
    assert walk.op.proxy.refresh_grants - grants == 1
    return walk.record


def lifetime_of(record: TokenSession) -> float:
    return (record.access_expires_at - record.access_issued_at).total_seconds()


def sign_out(walk: Walk) -> requests.Response:
    """POST /auth/logout: the record ends, the provider revokes the refresh token if it can."""
    record = walk.record
    tokens = record.tokens
    metadata = discovery(walk.op)
    response = walk.browser.post(
        f"{walk.bff}/auth/logout",
        data={"csrfmiddlewaretoken": csrf_token(walk.browser, walk.bff)},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    ended = TokenSession.objects.get(pk=record.pk)
    assert ended.ended_at is not None
    assert ended.end_reason == EndReason.LOGOUT
    assert walk.browser.get(f"{walk.bff}/auth/session").status_code == 401
    anonymous = walk.browser.get(f"{walk.bff}/api/echo/after", headers=API)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "not_signed_in"
    location = response.headers["Location"]
    end_session = metadata.get("end_session_endpoint")
    if end_session:
        # RP-Initiated Logout 1.0, 2: a registered post_logout_redirect_uri goes with the
        # client_id or the id_token_hint; a hint, when sent, is this session's ID token.
        assert location.startswith(end_session + "?"), location
        query = parse_qs(urlsplit(location).query)
        assert query["post_logout_redirect_uri"] == [f"{walk.bff}/auth/signed-out"]
        assert query.get("client_id") == [walk.op.client_id] or "id_token_hint" in query
        assert query.get("id_token_hint", [tokens.id_token]) == [tokens.id_token]
        # The provider takes the request: after the person confirms, back to the BFF.
        back = walk.op.end_session(walk.browser, location)
        assert back.headers["Location"].startswith(f"{walk.bff}/"), back.headers["Location"]
        assert parse_qs(urlsplit(back.headers["Location"]).query)["state"] == query["state"]
    else:
        assert location in ("/auth/signed-out", f"{walk.bff}/auth/signed-out"), location
    if metadata.get("revocation_endpoint"):
        # RFC 7009 2.1: a revoked refresh token can no longer be used.
        reuse = token_request(
            walk.op, grant_type="refresh_token", refresh_token=tokens.refresh_token
        )
        assert reuse.status_code == 400, reuse.text
        assert reuse.json()["error"] == "invalid_grant"
    return response


# --- Access token for an API audience; UserInfo refuses it -------------------------------------

API_SETTINGS: dict[str, Any] = {
    "scopes": ["openid", "profile", "email", "offline_access", "api:read"],
    "auth_params": {"prompt": "consent", "resource": API_RESOURCE},
}


def api_claims(op: RunningOP, token: str) -> dict[str, Any]:
    """What the API would check: an RFC 9068 JWT for it, signed with the provider's keys."""
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    key = jwt.PyJWKClient(discovery(op)["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=["RS256"], audience=API_RESOURCE, issuer=op.issuer)


def test_api_audience_token_refused_at_userinfo_does_not_block_sign_in(walk, npm_api):
    w = walk(npm_api, userinfo="auto", **API_SETTINGS)
    record = sign_in(w)
    id_claims = claims_of(record.tokens.id_token)
    assert "email" not in id_claims and "name" not in id_claims
    assert api_claims(npm_api, record.tokens.access_token)["sub"] == npm_api.account.sub
    userinfo = w.calls(route="userinfo")
    assert [call["status"] for call in userinfo] == [401]
    call_echo(w)
    _, after = storm(w)
    assert api_claims(npm_api, after.tokens.access_token)["sub"] == npm_api.account.sub
    sign_out(w)


def test_required_userinfo_refusing_the_token_fails_sign_in(walk, npm_api):
    w = walk(npm_api, userinfo="required", **API_SETTINGS)
    callback = w.browser.get(start_sign_in(w), allow_redirects=False)
    assert 400 <= callback.status_code < 600
    assert "Sign-in failed" in callback.text
    assert failure_reason(callback) == "userinfo:401"
    assert not TokenSession.objects.exists()
    assert w.browser.get(f"{w.bff}/auth/session").status_code == 401


# --- Refresh-token rotation --------------------------------------------------------------------


def test_rotating_refresh_token_storm_sends_one_grant_and_keeps_the_chain(walk, npm_rotating):
    w = walk(npm_rotating)
    sign_in(w)
    call_echo(w)
    before, after = storm(w)
    assert after.tokens.refresh_token != before.tokens.refresh_token
    assert w.op.proxy.refresh_tokens_seen == [before.tokens.refresh_token]
    refresh_once_more(w)
    assert w.op.proxy.refresh_tokens_seen[-1] == after.tokens.refresh_token
    assert all(call["status"] == 200 for call in w.calls(grant_type="refresh_token"))
    sign_out(w)


def test_reused_refresh_token_revokes_the_grant_and_the_next_refresh_ends_the_session(
    walk, npm_rotating
):
    """The provider's reuse detection is real: a replay of a rotated token kills the grant."""
    w = walk(npm_rotating)
    first = sign_in(w).tokens.refresh_token
    refresh_once_more(w)
    replay = token_request(npm_rotating, grant_type="refresh_token", refresh_token=first)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    record = make_due()
    response = w.browser.get(f"{w.bff}/api/echo/after-replay", headers=API)
    assert response.status_code == 401, response.text
    assert TokenSession.objects.get(pk=record.pk).end_reason == EndReason.REFRESH_REJECTED


@pytest.mark.parametrize(
    ("op_name", "refresh_token_comes_back"), [("npm_fixed", True), ("mock_op", False)]
)
def test_provider_without_rotation_keeps_one_refresh_token_through_a_storm(
    walk, request, op_name, refresh_token_comes_back
):
    op = request.getfixturevalue(op_name)
    w = walk(op)
    sign_in(w)
    call_echo(w)
    before, after = storm(w)
    (answer,) = w.calls(grant_type="refresh_token")
    assert ("refresh_token" in answer["fields"]) is refresh_token_comes_back
    assert after.tokens.refresh_token == before.tokens.refresh_token
    refresh_once_more(w)
    assert op.proxy.refresh_tokens_seen == [before.tokens.refresh_token] * 2
    sign_out(w)


# --- ID tokens on refresh ----------------------------------------------------------------------


def test_refresh_without_id_token_keeps_the_one_from_sign_in(walk, mock_op):
    w = walk(mock_op)
    sign_in(w)
    call_echo(w)
    before, after = storm(w)
    (answer,) = w.calls(grant_type="refresh_token")
    assert "id_token" not in answer["fields"]
    assert after.tokens.id_token == before.tokens.id_token
    (signed_in,) = w.calls(grant_type="authorization_code")
    assert signed_in["id_token_sha256"] == sha256(after.tokens.id_token)
    sign_out(w)


def test_refresh_with_a_new_id_token_keeps_the_same_person(walk, npm_rotating):
    w = walk(npm_rotating)
    sign_in(w)
    call_echo(w)
    before, after = storm(w)
    (answer,) = w.calls(grant_type="refresh_token")
    assert "id_token" in answer["fields"]
    # What the refresh brought, not the sign-in's (they are equal within one second).
    assert answer["id_token_sha256"] == sha256(after.tokens.id_token)
    old, new = claims_of(before.tokens.id_token), claims_of(after.tokens.id_token)
    assert (new["iss"], new["sub"], new["aud"]) == (old["iss"], old["sub"], old["aud"])
    assert new["iat"] >= old["iat"]
    sign_out(w)


# --- Opaque access tokens ----------------------------------------------------------------------


@pytest.mark.parametrize("op_name", ["npm_rotating", "mock_op"])
def test_opaque_access_token_lives_as_long_as_expires_in_says(walk, request, op_name):
    op = request.getfixturevalue(op_name)
    w = walk(op)
    record = sign_in(w)
    assert record.tokens.access_token.count(".") != 2  # not a JWT: no exp to read
    (code_answer,) = w.calls(grant_type="authorization_code")
    assert code_answer["expires_in"] == ACCESS_TOKEN_TTL
    assert lifetime_of(record) == pytest.approx(ACCESS_TOKEN_TTL, abs=2)
    call_echo(w)
    _, after = storm(w)
    (refresh_answer,) = w.calls(grant_type="refresh_token")
    assert lifetime_of(after) == pytest.approx(refresh_answer["expires_in"], abs=2)
    sign_out(w)


# --- client_secret_post only, no revocation, no end-session ------------------------------------


@pytest.mark.parametrize("client_auth_method", ["client_secret_post", ""])
def test_client_secret_post_provider_without_revocation_or_end_session(
    walk, npm_post_only, client_auth_method
):
    """Configured, or chosen from discovery (which offers client_secret_post only)."""
    metadata = discovery(npm_post_only)
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_post"]
    assert "revocation_endpoint" not in metadata
    assert "end_session_endpoint" not in metadata
    w = walk(npm_post_only, client_auth_method=client_auth_method)
    sign_in(w)
    call_echo(w)
    storm(w)
    sign_out(w)
    token_calls = w.calls(route="token")
    assert token_calls and all(call["status"] == 200 for call in token_calls)


# --- Back-channel logout ------------------------------------------------------------------------


def test_backchannel_logout_with_sid_ends_only_that_session(walk, npm_rotating):
    """The person signs out at the provider in one browser; their other browser stays."""
    w = walk(npm_rotating)
    record = sign_in(w)
    assert record.sid == claims_of(record.tokens.id_token)["sid"]
    call_echo(w)
    storm(w)
    with requests.Session() as other_browser:
        other = Walk(w.op, w.bff, other_browser, w.echo)
        other.callback_url = start_sign_in(other)
        assert other_browser.get(other.callback_url, allow_redirects=False).status_code == 302
        other_record = TokenSession.objects.live().exclude(pk=record.pk).get()
        assert other_record.sid and other_record.sid != record.sid

        signed_out = npm_rotating.log_out_at_provider(w.browser)
        assert signed_out.status_code in (302, 303), signed_out.text
        delivered = w.calls(route="backchannel.success")
        assert [(c["sid"], c["sub"]) for c in delivered] == [(record.sid, record.subject)], (
            npm_rotating.read_log()[-2000:]
        )
        assert TokenSession.objects.get(pk=record.pk).end_reason == EndReason.BACKCHANNEL
        response = w.browser.get(f"{w.bff}/api/echo/after-logout", headers=API)
        assert response.status_code == 401
        assert TokenSession.objects.get(pk=other_record.pk).is_live
        call_echo(other)
        sign_out(other)


# --- RFC 9207: iss in the authorization response ------------------------------------------------


def test_authorization_response_carries_iss_and_sign_in_succeeds(walk, npm_rotating):
    assert discovery(npm_rotating)["authorization_response_iss_parameter_supported"] is True
    w = walk(npm_rotating)
    sign_in(w)
    assert parse_qs(urlsplit(w.callback_url).query)["iss"] == [npm_rotating.issuer]
    call_echo(w)
    storm(w)
    sign_out(w)


def _with_iss(url: str, iss: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v for k, v in parse_qs(parts.query).items() if k != "iss"}
    if iss is not None:
        query["iss"] = [iss]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


@pytest.mark.parametrize(
    ("iss", "reason"), [(None, "iss_missing"), ("http://localhost:1/op", "iss_mismatch")]
)
def test_authorization_response_without_the_right_iss_is_rejected(walk, npm_rotating, iss, reason):
    """RFC 9207 2.4: a missing iss (the provider says it sends one) or another is refused."""
    w = walk(npm_rotating)
    callback = w.browser.get(_with_iss(start_sign_in(w), iss), allow_redirects=False)
    assert 400 <= callback.status_code < 500
    assert failure_reason(callback) == reason
    assert not TokenSession.objects.exists()
    assert not w.calls(grant_type="authorization_code")


# --- The provider rotates its signing key -------------------------------------------------------


def test_signing_key_rotation_while_signed_in_keeps_the_session(walk, npm_restartable):
    w = walk(npm_restartable)
    record = sign_in(w)
    signed_in_at = time.time()
    assert jwt.get_unverified_header(record.tokens.id_token)["kid"] == "key-1"
    call_echo(w)
    npm_restartable.restart_with_keys([signing_key("key-2")])
    # Users signed in a while ago: the first ID token under the new key comes at least a
    # second after the BFF read the keys at sign-in (its re-fetch limit), in a later second
    # of `iat` (no wait when the restart took that long already).
    time.sleep(max(0.0, signed_in_at + 1.0 - time.time()))
    published = requests.get(discovery(npm_restartable)["jwks_uri"], timeout=10).json()
    assert [key["kid"] for key in published["keys"]] == ["key-2"]
    _, after = storm(w)
    assert jwt.get_unverified_header(after.tokens.id_token)["kid"] == "key-2"
    sign_out(w)


# --- What ran -------------------------------------------------------------------------------------


def test_matrix_runs_the_pinned_provider_versions(npm_rotating, mock_op):
    """The versions named above are the ones installed (package.json, pyproject.toml pins)."""
    package = json.loads((NODE_OP_DIR / "package.json").read_text())
    assert npm_rotating.implementation == (
        f"oidc-provider {package['dependencies']['oidc-provider']} (npm)"
    )
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = next(d for d in dev["optional-dependencies"]["dev"] if d.startswith("oidc-provider-"))
    assert mock_op.implementation == f"oidc-provider-mock {pinned.split('==')[1]} (PyPI)"
