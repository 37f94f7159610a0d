"""Redis refused, then Redis dropping packets, under signed-in traffic: Redis is an
accelerator, so every call is still served (from the database), nobody is signed out, a
refresh that comes due takes the database lock instead (one grant), and the cache is used
again within seconds of Redis coming back."""

from __future__ import annotations

import time

import pytest

from tests.faults.traffic import Traffic, statuses, summary

pytestmark = pytest.mark.scaleout

WINDOW = 3.0


def cache_hits(stack) -> int:
    return int(stack.store.info("stats")["keyspace_hits"])


def wait_for_cache_use(stack, since: float, timeout: float = 10.0) -> float:
    """Seconds from `since` until the BFF reads the cache again."""
    before = cache_hits(stack)
    while time.monotonic() - since < timeout:
        if cache_hits(stack) > before:
            return time.monotonic() - since
        time.sleep(0.05)
    raise AssertionError(f"the BFF did not use Redis again within {timeout}s")


def test_redis_refused_then_dropping_signs_nobody_out(clean):
    stack = clean
    sessions = [stack.sign_in() for _ in range(4)]
    rotations = stack.rotations()
    with Traffic([stack.a.url, stack.b.url], sessions) as traffic:
        time.sleep(1)
        refused = time.monotonic()
        stack.set_redis("refuse")
        time.sleep(0.5)
        stack.make_due(sessions[0].record_id, remaining=60)
        time.sleep(WINDOW - 0.5)
        stack.set_redis("pass")
        back_after_refuse = wait_for_cache_use(stack, time.monotonic())
        time.sleep(1)
        dropping = time.monotonic()
        stack.set_redis("drop")
        time.sleep(0.5)
        stack.make_due(sessions[1].record_id, remaining=60)
        time.sleep(WINDOW - 0.5)
        healed = time.monotonic()
        stack.set_redis("pass")
        back_after_drop = wait_for_cache_use(stack, healed)
        time.sleep(2)

    calls = traffic.calls
    print(
        f"\nredis refused: {summary(traffic.between(refused, refused + WINDOW))}"
        f"\nredis dropping: {summary(traffic.between(dropping, healed))}"
        f"\nall: {summary(calls)}; cache used again {back_after_refuse:.2f}s after refuse, "
        f"{back_after_drop:.2f}s after drop; grants={stack.proxy.refresh_grants}"
    )
    assert statuses(calls) == {200: len(calls)}, summary(calls)
    assert len(traffic.between(refused, refused + WINDOW)) > 20
    assert len(traffic.between(dropping, healed)) > 20
    assert not any(call.set_cookie for call in calls)
    # Nobody signed out, and the two refreshes that came due happened once each.
    assert stack.ended_among(sessions) == {}
    assert stack.proxy.refresh_grants == 2
    assert stack.rotations() - rotations == 2
    versions = stack.versions()
    assert [versions[s.record_id] for s in sessions[:2]] == [2, 2]
    assert back_after_refuse < 5 and back_after_drop < 5
