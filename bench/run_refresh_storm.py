"""Refresh storm: 200 concurrent /api calls from one session whose token is inside the buffer.

The provider is the built-in one with reuse detection on and no grace period (a second
refresh with the same refresh token would kill the session and fail calls), behind the
counting ProviderProxy. Two configurations: PostgreSQL alone with the database lock, and
PostgreSQL + Redis (the Redis lock, sessions and records in the Redis cache). Each storm:
put the live token 10 s before expiry of a 900 s lifetime (inside min(300 s, 450 s)), open
200 keep-alive connections, release 200 GETs at once (barrier), count statuses, refresh
grants at the provider (must be 1) and the record's version (must move by 1). A first burst
with a fresh token is the reference.

This process ages and reads the record through the app's ORM, on Django as the first BFF
started set it up (bench.django_setup), once, before its first ORM use. Run from the
repository root:

    .venv/bin/python -m bench.run_refresh_storm [--calls 200] [--storms 3]
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.machine import machine
from bench.results import percentile, save, workdir
from bench.sessions import make_due, record_version
from bench.stacks import (
    DATABASE_LOCK,
    REDIS_CACHE_ENV,
    REDIS_LOCK,
    UPSTREAM_NAME,
    BFFStack,
    Upstream,
    bff_stack,
)

LABELS = {DATABASE_LOCK: "DatabaseLock", REDIS_LOCK: "RedisLock+cache"}


def version(stack: BFFStack) -> int:
    """The version of the stack's session record."""
    return record_version(stack.record_id)


def storm(stack: BFFStack, calls: int, *, due: bool = True) -> dict[str, Any]:
    """`calls` GETs at once; with `due`, the token is put inside the refresh buffer first."""
    url = f"{stack.url}/api/{UPSTREAM_NAME}/json"
    headers = stack.api_headers()
    sessions = [requests.Session() for _ in range(calls)]
    try:
        for session in sessions:  # one keep-alive connection each, opened before the storm
            session.get(f"{stack.url}/healthz", timeout=30).raise_for_status()
        if due:
            make_due(stack.record_id)
        stack.proxy.reset()
        before = version(stack)
        barrier = threading.Barrier(calls)

        def one(session: requests.Session) -> tuple[int | str, float]:
            barrier.wait()
            started = time.perf_counter()
            try:
                status: int | str = session.get(url, headers=headers, timeout=60).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            return status, (time.perf_counter() - started) * 1000

        with ThreadPoolExecutor(max_workers=calls) as pool:
            outcomes = list(pool.map(one, sessions))
    finally:
        for session in sessions:
            session.close()
    latencies = [ms for _, ms in outcomes]
    statuses = Counter(str(status) for status, _ in outcomes)
    return {
        "due": due,
        "calls": calls,
        "statuses": dict(statuses),
        "failures": calls - statuses.get("200", 0),
        "refresh_grants": stack.proxy.refresh_grants,
        "refresh_attempts": stack.proxy.refresh_attempts,
        "version_delta": version(stack) - before,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--storms", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    root = workdir("storm")
    result: dict[str, Any] = {"machine": machine(), "workers": args.workers, "backends": {}}
    result["references"] = {}
    upstream = Upstream(root).start()
    try:
        with bff_stack(
            "storm",
            upstream.url,
            root=root,
            workers=args.workers,
            idp_env={"IDP_REFRESH_GRACE_SECONDS": "0", "IDP_REUSE_PROTECTION": "true"},
        ) as stack:
            for backend in (DATABASE_LOCK, REDIS_LOCK):
                # The Redis lock with the shared cache too: the scale-out configuration.
                env = REDIS_CACHE_ENV if backend == REDIS_LOCK else {}
                stack.start_bff(lock_backend=backend, env=env, tag=backend.rsplit(".", 1)[1])
                # The same burst with a fresh token first: what 200 calls cost without a refresh.
                result["references"][backend] = storm(stack, args.calls, due=False)
                result["backends"][backend] = [storm(stack, args.calls) for _ in range(args.storms)]
    finally:
        upstream.stop()
    result["met"] = all(
        s["refresh_grants"] == 1 and s["failures"] == 0 and s["version_delta"] == 1
        for storms in result["backends"].values()
        for s in storms
    )
    result["workdir"] = str(root)
    save("refresh_storm", result)
    print(report(result))
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"Refresh storm ({result['workers']} BFF workers; one session, token inside the buffer;"
        " provider: reuse detection on, grace 0):",
        f"{'lock backend':26} {'calls':>5} {'grants':>6} {'failures':>8} {'version+':>8}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}",
    ]
    for backend, storms in result["backends"].items():
        for s in [result["references"][backend], *storms]:
            lines.append(
                f"{LABELS[backend] + ('' if s['due'] else ' (fresh token)'):26}"
                f" {s['calls']:>5} {s['refresh_grants']:>6}"
                f" {s['failures']:>8} {s['version_delta']:>8} {s['p50_ms']:>7.0f}"
                f" {s['p99_ms']:>7.0f} {s['max_ms']:>7.0f}"
            )
    lines.append(
        "targets (1 grant, 0 failures, version +1 per storm with a due token): "
        + ("met" if result["met"] else "NOT met")
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
