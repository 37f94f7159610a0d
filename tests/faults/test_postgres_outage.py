"""PostgreSQL refused, and PostgreSQL stalled longer than the Redis lock lives while a refresh
is on its way, under signed-in traffic. With Redis up, a request whose cached record and
access token are valid is served; only a request that needs the database answers 503 with
Retry-After (JSON under /api), never 500; nobody is signed out; one refresh grant per
rotation reaches the provider, and the rotation it bought is stored once the database is
back."""

from __future__ import annotations

import time

import pytest
import requests

from tests.faults.conftest import LOCK_SECONDS, record_key
from tests.faults.traffic import Traffic, served_again_after, statuses, summary

pytestmark = pytest.mark.scaleout

WINDOW = 3.0


def wait_until_cached(stack, sessions, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(stack.store.exists(record_key(s.browser_key)) for s in sessions):
        assert time.monotonic() < deadline, "the traffic did not cache every record"
        time.sleep(0.02)


def page(base: str, session) -> requests.Response:
    return requests.get(f"{base}/items", cookies=session.cookies, timeout=10)


def first_served(calls, *, session: int) -> float:
    """When the first 200 for `session` among `calls` came back."""
    return min(c.started + c.took for c in calls if c.session == session and c.status == 200)


def test_postgres_refused_serves_what_the_cache_can(clean):
    stack = clean
    sessions = [stack.sign_in() for _ in range(4)]
    due, expired = sessions[2], sessions[3]
    rotations = stack.rotations()
    with Traffic([stack.a.url, stack.b.url], sessions) as traffic:
        time.sleep(1)
        stack.recache()
        wait_until_cached(stack, sessions)
        refused = time.monotonic()
        stack.pg.set_mode("refuse")
        # Tokens come due while the database is away: one still valid, one expired.
        stack.make_due(due.record_id, remaining=60)
        stack.make_due(expired.record_id, remaining=-5)
        expired_since = time.monotonic()
        time.sleep(WINDOW / 2)
        # Pages too: served with a valid token, a 503 page (not 500) without one.
        pages = [page(stack.a.url, session) for session in (sessions[0], due, expired)]
        time.sleep(WINDOW / 2)
        healed = time.monotonic()
        stack.pg.set_mode("pass")
        time.sleep(3)

    calls = traffic.calls
    during = traffic.between(refused, healed)
    expired_back = first_served(traffic.between(healed), session=3) - healed
    by_session = {i: [c for c in during if c.session == i] for i in range(len(sessions))}
    print(
        f"\npostgres refused: {summary(during)}"
        f"\n  valid tokens: {summary(by_session[0] + by_session[1])}"
        f"\n  due, still valid: {summary(by_session[2])}"
        f"\n  expired: {summary(by_session[3])}"
        f"\nall: {summary(calls)}; back {served_again_after(calls, healed):.2f}s after;"
        f" the expired one {expired_back:.2f}s after; grants={stack.proxy.refresh_grants}"
    )
    assert 500 not in statuses(calls) and 0 not in statuses(calls), summary(calls)
    # Served from the cache: valid tokens, and a due one that is still valid.
    for index in (0, 1, 2):
        assert statuses(by_session[index]) == {200: len(by_session[index])}, index
    # An expired token cannot be refreshed without the database: 503, told when to retry.
    # (A call that reached the database only once it was back is left out.)
    unserved = [
        c for c in by_session[3] if c.started > expired_since and c.started + c.took < healed
    ]
    assert unserved and all(c.status == 503 and c.retry_after and c.json for c in unserved)
    assert {c.error for c in unserved} == {"store_unavailable"}
    assert [answer.status_code for answer in pages] == [200, 200, 503]
    assert pages[2].headers["Retry-After"]
    assert pages[2].headers["Content-Type"].startswith("text/html")
    assert served_again_after(calls, healed) < 3
    assert 0 < expired_back < 3
    assert not any(call.set_cookie for call in calls)
    assert stack.ended_among(sessions) == {}
    # Both refreshed once the database was back, one grant each.
    assert stack.proxy.refresh_grants == 2
    assert stack.rotations() - rotations == 2
    versions = stack.versions()
    assert [versions[s.record_id] for s in sessions] == [1, 1, 2, 2]


def test_postgres_stalled_past_the_lock_lifetime_mid_refresh_keeps_the_rotation(clean):
    stack = clean
    sessions = [stack.sign_in() for _ in range(3)]
    due = sessions[2]
    rotations = stack.rotations()
    # The provider takes 0.5 s to answer: the database stalls while the grant is on its way.
    stack.proxy.mode, stack.proxy.delay = "slow", 0.5
    with Traffic([stack.a.url, stack.b.url], sessions) as traffic:
        time.sleep(1)
        stack.recache()
        wait_until_cached(stack, sessions)
        stack.make_due(due.record_id, remaining=60)
        deadline = time.monotonic() + 5
        while stack.proxy.refresh_attempts == 0:
            assert time.monotonic() < deadline, "no refresh started"
            time.sleep(0.01)
        stalled = time.monotonic()
        stack.pg.set_mode("drop")
        time.sleep(LOCK_SECONDS + 0.5)
        # Past its first lifetime the lock is still held: renewed by its holder.
        assert stack.locks.pttl(f"bff:refresh-lock:{due.record_id}") > 0
        time.sleep(0.5)
        healed = time.monotonic()
        stack.pg.set_mode("pass")
        time.sleep(4)

    calls = traffic.calls
    during = traffic.between(stalled, healed)
    refreshed = [c for c in calls if c.session == 2 and c.took > LOCK_SECONDS]
    print(
        f"\npostgres stalled {healed - stalled:.1f}s: {summary(during)}; the refreshing call"
        f" took {max((c.took for c in refreshed), default=0):.1f}s"
        f"\nall: {summary(calls)}; back {served_again_after(calls, healed):.2f}s after;"
        f" grants={stack.proxy.refresh_grants}"
    )
    # What could not be served without the database (a record whose cached copy expired
    # during the stall) was told to come back, never 500.
    unserved = [call for call in calls if call.status != 200]
    assert all(c.status == 503 and c.retry_after and c.json for c in unserved), summary(calls)
    assert stack.proxy.refresh_grants == 1
    assert stack.rotations() - rotations == 1
    assert stack.versions()[due.record_id] == 2
    assert stack.ended_among(sessions) == {}
    assert served_again_after(calls, healed) < 5
    # The chain is intact: the stored rotation refreshes again.
    stack.proxy.reset()
    stack.make_due(due.record_id, remaining=60)
    answer = requests.get(f"{stack.a.url}/auth/session", cookies=due.cookies, timeout=10)
    assert answer.status_code == 200
    assert stack.proxy.refresh_grants == 1
    assert stack.versions()[due.record_id] == 3
