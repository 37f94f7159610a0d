"""Audiences per upstream against panva's oidc-provider (npm), a third-party provider with
resource indicators (RFC 8707): an upstream's own token comes from a refresh grant naming
its resource, one grant per rotation per upstream under a storm, and it reaches that
upstream only. The provider rotates refresh tokens and revokes the whole grant when one is
used twice, so a second grant on one token cannot hide.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import jwt
import pytest
import requests
from django.utils import timezone

from bff.models import TokenSession, UpstreamToken
from tests.bff.conftest import make_due
from tests.providers.conftest import _node
from tests.providers.ops import NodeOP, discovery
from tests.providers.test_matrix import API, sign_in, sign_out

pytestmark = pytest.mark.django_db(transaction=True)

BILLING = "https://billing.example.test/"
REPORTS = "https://reports.example.test/"


@pytest.fixture(scope="module")
def npm_audiences(tmp_path_factory, live_server) -> Iterator[NodeOP]:
    """oidc-provider with two APIs besides UserInfo, rotating refresh tokens."""
    yield from _node(
        tmp_path_factory, live_server, "npm-audiences", audience_resources=(BILLING, REPORTS)
    )


@pytest.fixture
def audiences(settings, echo_server):
    def wire() -> None:
        settings.BFF_UPSTREAMS = {
            "echo": {"url": f"{echo_server.url}/base", "token": "user"},
            "billing": {"url": f"{echo_server.url}/billing", "audience": {"resource": BILLING}},
            "reports": {"url": f"{echo_server.url}/reports", "audience": {"resource": REPORTS}},
        }

    return wire


def api_claims(op: NodeOP, token: str, audience: str) -> dict:
    """What the API checks: a JWT for it alone, signed with the provider's keys."""
    key = jwt.PyJWKClient(discovery(op)["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=op.issuer)


def bearers(echo, prefix: str) -> set[str]:
    return {
        seen["headers"]["authorization"].removeprefix("Bearer ")
        for seen in echo.seen
        if seen["path"].startswith(prefix)
    }


def fire(w, paths: list[str]) -> list[int]:
    barrier = Barrier(len(paths))
    cookies = {"bff_session": w.browser.cookies.get("bff_session")}

    def one(path: str) -> int:
        with requests.Session() as session:
            session.cookies.update(cookies)
            barrier.wait()
            return session.get(f"{w.bff}/api/{path}", headers=API, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        return list(pool.map(one, paths))


def test_resource_tokens_one_grant_per_upstream_and_only_there(walk, npm_audiences, audiences):  # noqa: F811
    w = walk(npm_audiences)
    audiences()
    record = sign_in(w)
    main = record.tokens.access_token
    grants = w.op.proxy.refresh_grants
    w.echo.reset()
    paths = [f"{name}/x" for name in ("billing", "reports", "echo") for _ in range(20)]
    assert fire(w, paths) == [200] * 60
    assert w.op.proxy.refresh_grants - grants == 2
    billing, reports, plain = (bearers(w.echo, p) for p in ("/billing", "/reports", "/base"))
    assert len(billing) == len(reports) == 1
    assert plain == {main}
    (billing_token,), (reports_token,) = billing, reports
    assert api_claims(w.op, billing_token, BILLING)["sub"] == w.op.account.sub
    assert api_claims(w.op, reports_token, REPORTS)["sub"] == w.op.account.sub
    with pytest.raises(jwt.InvalidAudienceError):
        api_claims(w.op, billing_token, REPORTS)
    # The provider's token requests named each resource once.
    refreshes = w.calls(grant_type="refresh_token")
    assert [call["status"] for call in refreshes] == [200, 200]

    # The billing token nears expiry: a storm on it sends one more grant, none for reports.
    UpstreamToken.objects.filter(upstream="billing").update(
        issued_at=timezone.now() - timedelta(seconds=890),
        expires_at=timezone.now() + timedelta(seconds=10),
    )
    w.echo.reset()
    assert fire(w, ["billing/y"] * 50 + ["reports/y"] * 5) == [200] * 55
    assert w.op.proxy.refresh_grants - grants == 3
    assert bearers(w.echo, "/reports") == {reports_token}
    assert len(bearers(w.echo, "/billing") - {billing_token}) == 1

    # The rotated chain still serves the session's own refresh, and then sign-out.
    make_due()
    assert w.browser.get(f"{w.bff}/api/echo/again", headers=API).status_code == 200
    assert w.op.proxy.refresh_grants - grants == 4
    assert all(call["status"] == 200 for call in w.calls(grant_type="refresh_token"))
    ended = record.pk
    sign_out(w)
    assert not UpstreamToken.objects.filter(session_id=ended).exists()
    assert TokenSession.objects.get(pk=ended).ended_at is not None
    # Revocation (RFC 7009) was asked for the refresh token and for each minted token; the
    # library revokes the refresh token (and its grant) and answers unsupported_token_type
    # for JWT access tokens, which it cannot revoke (they expire on their own).
    revocations = w.calls(route="revocation")
    assert [c["status"] for c in revocations] == [200, 400, 400]
