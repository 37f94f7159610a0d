"""What a request with a fresh token costs the database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bff import record_cache
from tests.bff.conftest import RESOURCES
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_request_with_fresh_token_costs_one_query_or_none_with_a_shared_cache(
    lenient, live_server, browser
):
    sign_in(browser, live_server.url)
    client = Client()
    client.cookies["bff_session"] = browser.cookies.get("bff_session")
    assert client.get("/auth/session").status_code == 200  # warm: last_seen written
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/auth/session")
    assert response.status_code == 200
    tables = [q["sql"].split(" FROM ", 1)[1].split()[0].strip('"') for q in queries]
    if record_cache.enabled():
        # Redis holds the session (cached_db) and the record: no query at all.
        assert tables == [], [q["sql"] for q in queries]
    else:
        # The browser session joined with its token record and the record's user. Nothing else.
        assert tables == ["bff_browser_session"], [q["sql"] for q in queries]
        assert "bff_tokensession" in queries[0]["sql"] and "accounts_user" in queries[0]["sql"]


def test_upstream_without_audience_costs_no_query_more_than_before(
    lenient, live_server, browser, echo_server, settings
):
    """An upstream with its own audience costs one query (its token); the others none."""
    settings.BFF_UPSTREAMS = {
        "plain": f"{echo_server.url}/plain",
        "billing": {"url": f"{echo_server.url}/billing", "audience": {"resource": RESOURCES[0]}},
    }
    sign_in(browser, live_server.url)
    client = Client(headers={"X-CSRF": "1", "Origin": live_server.url})
    client.cookies["bff_session"] = browser.cookies.get("bff_session")
    assert client.get("/api/billing/x").status_code == 200  # warm: minted, last_seen written
    assert client.get("/api/plain/x").status_code == 200

    def tables_of(path: str) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        return [q["sql"].split(" FROM ", 1)[1].split()[0].strip('"') for q in queries]

    session_tables = [] if record_cache.enabled() else ["bff_browser_session"]
    assert tables_of("/api/plain/x") == session_tables
    assert tables_of("/api/billing/x") == [*session_tables, "bff_upstreamtoken"]
