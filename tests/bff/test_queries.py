"""What a request with a fresh token costs the database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bff import record_cache
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
