"""Audiences per upstream against the built-in provider: a token minted for an upstream
(RFC 8707 resource indicator on the refresh grant), single-flight per upstream, only ever
sent to that upstream, encrypted at rest, and ended with its session.

The provider runs with reuse detection on and grace zero (the `strict` fixture): a
resource grant and a main refresh racing on one refresh token would kill the chain.
"""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
import requests
from django.db import connection
from django.utils import timezone

from bff import sessions
from bff.models import TokenSession, UpstreamToken
from tests.bff.conftest import EXCHANGE_AUDIENCE, RESOURCES, make_due
from tests.bff.test_refresh_single_flight import fire_together, session_cookie
from tests.conftest import sign_in
from tests.support.bff import database_url, start_bff

pytestmark = pytest.mark.django_db(transaction=True)

BILLING, REPORTS = RESOURCES
API_HEADERS = {"X-CSRF": "1"}


@pytest.fixture
def upstreams(settings, echo_server, strict):
    """Three names on the echo server: one plain, two each with their own audience."""
    settings.BFF_UPSTREAMS = {
        "plain": f"{echo_server.url}/plain",
        "billing": {"url": f"{echo_server.url}/billing", "audience": {"resource": BILLING}},
        "reports": {"url": f"{echo_server.url}/reports", "audience": {"resource": REPORTS}},
        "ledger": {
            "url": f"{echo_server.url}/ledger",
            "audience": {"exchange": EXCHANGE_AUDIENCE, "scope": "openid email"},
        },
    }
    echo_server.reset()
    return echo_server


def bearers_at(echo_server, prefix: str) -> list[str]:
    """The bearer tokens that reached the echo upstream under `prefix`."""
    return [
        seen["headers"].get("authorization", "").removeprefix("Bearer ")
        for seen in echo_server.seen
        if seen["path"].startswith(prefix)
    ]


def audience_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["aud"]


def api_get(browser, base: str, path: str):
    return browser.get(f"{base}/api/{path}", headers={**API_HEADERS, "Origin": base}, timeout=30)


def test_each_upstream_gets_its_own_token_and_no_other(upstreams, strict, live_server, browser):
    sign_in(browser, live_server.url)
    record = TokenSession.objects.live().get()
    main = record.tokens.access_token
    for path in ("plain/a", "billing/a", "reports/a", "plain/b", "billing/b", "reports/b"):
        assert api_get(browser, live_server.url, path).status_code == 200
    plain, billing, reports = (bearers_at(upstreams, p) for p in ("/plain", "/billing", "/reports"))
    assert plain == [main, main]
    assert {audience_of(t) for t in billing} == {BILLING} and len(set(billing)) == 1
    assert {audience_of(t) for t in reports} == {REPORTS} and len(set(reports)) == 1
    # Asserted at the upstreams: no token crossed over.
    assert not set(billing) & (set(plain) | set(reports))
    assert not set(reports) & (set(plain) | set(billing))
    # One resource grant per upstream; the session kept its own access token.
    assert strict.proxy.refresh_grants == 2
    assert TokenSession.objects.get(pk=record.pk).tokens.access_token == main


def test_fifty_parallel_calls_send_one_grant_per_upstream(upstreams, strict, live_server, browser):
    sign_in(browser, live_server.url)
    cookies = session_cookie(browser)
    base = live_server.url
    urls = [f"{base}/api/{name}/x" for name in ("billing", "reports", "plain") for _ in range(20)]
    statuses = fire_together(urls, cookies, headers={**API_HEADERS, "Origin": base})
    assert statuses == [200] * 60
    assert strict.proxy.refresh_grants == 2
    assert len(set(bearers_at(upstreams, "/billing"))) == 1
    assert len(set(bearers_at(upstreams, "/reports"))) == 1

    # The billing token nears expiry: again one grant for it, none for reports.
    UpstreamToken.objects.filter(upstream="billing").update(
        issued_at=timezone.now() - timedelta(seconds=890),
        expires_at=timezone.now() + timedelta(seconds=10),
    )
    upstreams.reset()
    statuses = fire_together(
        [f"{base}/api/billing/y"] * 50 + [f"{base}/api/reports/y"] * 10,
        cookies,
        headers={**API_HEADERS, "Origin": base},
    )
    assert statuses == [200] * 60
    assert strict.proxy.refresh_grants == 3
    assert len(set(bearers_at(upstreams, "/billing"))) == 1
    # The chain is intact after three rotations: the session's own refresh still works.
    make_due()
    assert browser.get(f"{base}/auth/session").status_code == 200
    assert strict.proxy.refresh_grants == 4


def test_an_upstream_refusing_its_token_gets_one_new_one(upstreams, strict, live_server, browser):
    sign_in(browser, live_server.url)
    assert api_get(browser, live_server.url, "billing/protected").status_code == 200
    [first] = bearers_at(upstreams, "/billing")
    upstreams.revoked.add(first)
    assert api_get(browser, live_server.url, "billing/protected").status_code == 200
    tokens = bearers_at(upstreams, "/billing")
    assert tokens[1:] == [first, tokens[2]] and tokens[2] != first
    assert audience_of(tokens[2]) == BILLING
    assert strict.proxy.refresh_grants == 2  # one mint, one forced replacement
    # Refused every time: one retry only, and the 401 stands.
    upstreams.refuse_every_token = True
    response = api_get(browser, live_server.url, "billing/protected")
    assert response.status_code == 401
    assert strict.proxy.refresh_grants == 3


def test_upstream_tokens_are_encrypted_at_rest(upstreams, live_server, browser):
    sign_in(browser, live_server.url)
    assert api_get(browser, live_server.url, "billing/x").status_code == 200
    [token] = bearers_at(upstreams, "/billing")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM bff_upstreamtoken")
        rows = cursor.fetchall()
    assert len(rows) == 1
    assert not any(token in str(column) for column in rows[0])
    assert not any(token[20:60] in str(column) for column in rows[0])
    assert UpstreamToken.objects.get().tokens.access_token == token


def test_ended_session_ends_its_upstream_tokens(upstreams, strict, live_server, browser):
    sign_in(browser, live_server.url)
    assert api_get(browser, live_server.url, "billing/x").status_code == 200
    record = TokenSession.objects.live().get()
    assert UpstreamToken.objects.filter(session=record).count() == 1
    sessions.end(record, TokenSession.EndReason.ENDED_BY_ADMIN)
    assert not UpstreamToken.objects.exists()
    grants = strict.proxy.refresh_grants
    upstreams.reset()
    response = api_get(browser, live_server.url, "billing/x")
    assert response.status_code == 401
    assert upstreams.seen == [] and strict.proxy.refresh_grants == grants


def test_token_exchange_one_grant_per_rotation_and_only_there(
    upstreams, strict, live_server, browser
):
    sign_in(browser, live_server.url)
    cookies = session_cookie(browser)
    base = live_server.url
    main = TokenSession.objects.live().get().tokens.access_token
    urls = [f"{base}/api/ledger/x"] * 50 + [f"{base}/api/plain/x"] * 10
    assert fire_together(urls, cookies, headers={**API_HEADERS, "Origin": base}) == [200] * 60
    assert strict.proxy.exchanges == 1 and strict.proxy.refresh_grants == 0
    (ledger,) = set(bearers_at(upstreams, "/ledger"))
    claims = jwt.decode(ledger, options={"verify_signature": False})
    assert claims["aud"] == EXCHANGE_AUDIENCE and set(claims["scope"].split()) == {
        "openid",
        "email",
    }
    assert set(bearers_at(upstreams, "/plain")) == {main} and ledger != main

    # Refused upstream as invalid: exactly one new exchange, and the retry carries it.
    upstreams.revoked.add(ledger)
    assert api_get(browser, base, "ledger/protected").status_code == 200
    assert strict.proxy.exchanges == 2
    assert bearers_at(upstreams, "/ledger")[-1] not in (ledger, main)


def test_a_resource_the_provider_refuses_is_a_clear_502_and_the_session_lives_on(
    upstreams, strict, live_server, browser, settings
):
    settings.BFF_UPSTREAMS = {
        **settings.BFF_UPSTREAMS,
        "unknown": {
            "url": f"{upstreams.url}/unknown",
            "audience": {"resource": "https://unknown.example.test/"},
        },
    }
    sign_in(browser, live_server.url)
    refused = api_get(browser, live_server.url, "unknown/x")
    assert refused.status_code == 502
    assert refused.json()["error"] == "upstream_token_refused"
    assert bearers_at(upstreams, "/unknown") == []
    record = TokenSession.objects.live().get()
    assert record.refresh_failures == 0 and record.refresh_retry_at is None
    assert api_get(browser, live_server.url, "billing/x").status_code == 200
    assert api_get(browser, live_server.url, "plain/x").status_code == 200


def test_gunicorn_workers_configured_from_the_environment_share_one_grant(
    upstreams, strict, live_server, tmp_path
):
    """Three worker processes, the audience from BFF_UPSTREAM_AUDIENCE_<NAME>."""
    bff = start_bff(
        tmp_path,
        port=strict.spare_ports[0],
        database_url=database_url(connection.settings_dict),
        issuer=strict.issuer,
        upstreams={"plain": f"{upstreams.url}/plain", "billing": f"{upstreams.url}/billing"},
        env={"BFF_UPSTREAM_AUDIENCE_BILLING": f"resource={BILLING}"},
        workers=3,
    )
    try:
        browser = requests.Session()
        sign_in(browser, bff.url)
        statuses = fire_together(
            [f"{bff.url}/api/billing/x"] * 50 + [f"{bff.url}/api/plain/x"] * 5,
            session_cookie(browser),
            headers={**API_HEADERS, "Origin": bff.url},
        )
        assert statuses == [200] * 55
        assert strict.proxy.refresh_grants == 1
        (billing,) = set(bearers_at(upstreams, "/billing"))
        assert audience_of(billing) == BILLING
        assert billing not in bearers_at(upstreams, "/plain")
    finally:
        bff.stop()
