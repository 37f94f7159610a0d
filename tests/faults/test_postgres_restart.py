"""A PostgreSQL restart (every connection dropped, the server back at once) costs no request
its answer: config/postgresql checks a persistent connection only when its first query of a
request fails, and then sends that query again on a new connection."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

pytestmark = pytest.mark.scaleout

CALLS = 48


def sessions_page(base: str, session) -> int:
    # The sessions page queries the database on every request (the records list).
    answer = requests.get(f"{base}/auth/sessions", cookies=session.cookies, timeout=10)
    return answer.status_code


def test_a_restart_between_requests_fails_none(clean):
    session = clean.sign_in()
    bases = [clean.a.url, clean.b.url]
    with ThreadPoolExecutor(8) as pool:
        # Every worker thread of both instances opens its persistent connection.
        warm = list(pool.map(lambda i: sessions_page(bases[i % 2], session), range(CALLS)))
    assert warm == [200] * CALLS
    assert clean.pg.open_connections >= 2

    clean.pg.cut_all()  # what a restart does to every connection the BFF holds

    with ThreadPoolExecutor(8) as pool:
        after = list(pool.map(lambda i: sessions_page(bases[i % 2], session), range(CALLS)))
    assert after == [200] * CALLS
    assert clean.pg.open_connections >= 2


def test_a_restart_before_a_sign_in_fails_none(clean):
    # A sign-in's first queries run in a transaction, where nothing can be sent again: the
    # connection is checked before it begins.
    first = clean.sign_in()
    with ThreadPoolExecutor(8) as pool:
        warm = list(pool.map(lambda i: sessions_page(clean.a.url, first), range(CALLS)))
    assert warm == [200] * CALLS

    clean.pg.cut_all()

    for _ in range(4):  # each lands on some worker thread's dead connection
        clean.sign_in()
