"""Ending sessions while Redis is away. A back-channel logout either takes effect on every
host at once (the ended mark is in the cache every host reads, or a host that cannot read
the cache reads the database) or answers 503 with Retry-After and changes nothing, so the
provider sends it again. A session ended where the mark could not be written (a sign-out on
a host cut off from Redis) is served elsewhere at most BFF_RECORD_CACHE_SECONDS longer."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import requests

from tests.faults.conftest import BOB_EMAIL, RECORD_CACHE_SECONDS
from tests.faults.traffic import Traffic, statuses, summary
from tests.support.idp import find_form

pytestmark = pytest.mark.scaleout

OUTAGE = 3.0


def post_logout_token(base: str, token: str) -> requests.Response:
    """The provider's own POST: no browser, no cookies."""
    return requests.post(
        f"{base}/auth/backchannel-logout/oidc", data={"logout_token": token}, timeout=10
    )


def serves(base: str, session) -> int:
    return requests.get(f"{base}/auth/session", cookies=session.cookies, timeout=10).status_code


def subject_of(stack, session) -> str:
    return stack.query("SELECT subject FROM bff_tokensession WHERE id = %s", session.record_id)[0][
        0
    ]


def assert_deferred(answer: requests.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"]
    assert answer.json()["error"] == "temporarily_unavailable"


def test_backchannel_logout_during_a_redis_outage_is_deferred_then_ends_it_everywhere(clean):
    stack = clean
    alice = [stack.sign_in() for _ in range(3)]
    bob = stack.sign_in(BOB_EMAIL)
    token = stack.logout_token(subject_of(stack, bob))
    hosts = [stack.a.url, stack.b.url]
    with Traffic(hosts, alice) as traffic:
        time.sleep(0.5)
        outage = time.monotonic()
        stack.set_redis("refuse")
        time.sleep(0.3)
        # Refused, then dropping: the hosts could not all learn it at once, so nothing ends.
        assert_deferred(post_logout_token(stack.a.url, token))
        stack.set_redis("drop")
        assert_deferred(post_logout_token(stack.b.url, token))
        assert bob.record_id not in stack.ended()
        assert [serves(host, bob) for host in hosts] == [200, 200]
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - outage)))
        healed = time.monotonic()
        stack.set_redis("pass")
        # The provider sends it again until it is taken.
        attempts = 0
        while True:
            attempts += 1
            answer = post_logout_token(stack.a.url, token)
            if answer.status_code == 200:
                break
            assert_deferred(answer)
            assert time.monotonic() - healed < 10, "the logout was never taken"
            time.sleep(0.5)
        taken = time.monotonic()
        # From then on no host serves it.
        refused = [serves(host, bob) for _ in range(10) for host in hosts]
        time.sleep(1)

    print(
        f"\nback-channel logout: deferred during a {healed - outage:.1f}s outage, taken "
        f"{taken - healed:.2f}s after it on try {attempts}; bob afterwards {Counter(refused)}"
        f"\nalice's traffic: {summary(traffic.calls)}"
    )
    assert refused == [401] * 20
    assert stack.ended_among([*alice, bob]) == {bob.record_id: "backchannel"}
    assert statuses(traffic.calls) == {200: len(traffic.calls)}


def test_backchannel_logout_reaches_a_host_cut_off_from_redis(clean):
    stack = clean
    bob = stack.sign_in(BOB_EMAIL)
    token = stack.logout_token(subject_of(stack, bob))
    assert [serves(stack.a.url, bob), serves(stack.b.url, bob)] == [200, 200]
    stack.redis_b.set_mode("drop")
    # b cannot write the ended mark: it refuses; a can, and ends it.
    assert_deferred(post_logout_token(stack.b.url, token))
    assert post_logout_token(stack.a.url, token).status_code == 200
    # b, without Redis, reads the database; once back, the cache's ended mark.
    assert [serves(stack.a.url, bob), serves(stack.b.url, bob)] == [401, 401]
    stack.redis_b.set_mode("pass")
    time.sleep(0.3)
    assert [serves(host, bob) for host in (stack.a.url, stack.b.url) for _ in range(5)] == [
        401
    ] * 10
    assert stack.ended_among([bob]) == {bob.record_id: "backchannel"}


def test_signed_out_on_a_host_cut_off_from_redis_lasts_at_most_the_record_cache_time(clean):
    stack = clean
    alice = stack.sign_in()
    assert serves(stack.a.url, alice) == 200  # cached in Redis by a
    stack.redis_b.set_mode("refuse")
    browser = requests.Session()
    browser.cookies.update(alice.cookies)
    action, form = find_form(browser.get(f"{stack.b.url}/auth/logout"), "csrfmiddlewaretoken")
    ended_at = time.monotonic()
    out = browser.post(action, data=form, allow_redirects=False, timeout=10)
    assert out.status_code == 302
    assert alice.record_id in stack.ended()
    # b knows at once. a reads the record cached before, which b could not mark ended: it
    # serves the old cookie until that copy expires, never longer.
    assert serves(stack.b.url, alice) == 401
    last_served = ended_at
    while time.monotonic() - ended_at < RECORD_CACHE_SECONDS + 3:
        asked = time.monotonic()
        if serves(stack.a.url, alice) == 200:
            last_served = asked
        time.sleep(0.2)
    stack.redis_b.set_mode("pass")
    print(f"\nsigned out on b without Redis: a served it {last_served - ended_at:.1f}s longer")
    assert last_served - ended_at <= RECORD_CACHE_SECONDS
    assert serves(stack.a.url, alice) == 401
    assert stack.ended()[alice.record_id] == "logout"
