"""Budgets of calls in fixed windows, counted in the cache (shared across processes and
hosts when it is Redis). A cache that fails lets every call through: limits are a guard,
not a gate (bff/stores.py).

    spend("accounts:rate:login:203.0.113.9", 30, 60)   # None, or the seconds to wait

The gateway's budgets per upstream (docs/gateway.md) are `RateLimits`: one `Budget` per kind
(`session`, `anonymous`, `upstream`), from BFF_RATE_LIMITS, overridden per upstream.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from bff.stores import cache_store

# What each kind of budget counts, per upstream.
KINDS = {
    "session": "calls per signed-in session",
    "anonymous": "calls per client address without a session",
    "upstream": "calls by everyone together",
}
_OFF = (None, "", "off", False)


def spend(key: str, count: int, seconds: int) -> int | None:
    """Count one call under `key`; the seconds to wait when it is over `count` calls in
    this `seconds` window, else None (also when the cache fails)."""
    now = time.time()
    started = math.floor(now / seconds) * seconds
    window_key = f"{key}:{started}"
    # incr first: the common case (the window's key exists) costs one call, not two.
    seen = cache_store.call("rate_incr", cache.incr, window_key)
    if seen is None and not cache_store.down:
        # The window's first call (incr raised ValueError); a sibling may be creating it too.
        if cache_store.call("rate_add", cache.add, window_key, 1, timeout=seconds + 1):
            seen = 1
        else:
            seen = cache_store.call("rate_incr", cache.incr, window_key)
    if seen is None or seen <= count:  # None: the cache is down; a guard, not a gate
        return None
    return max(1, math.ceil(started + seconds - now))


@dataclass(frozen=True)
class Budget:
    """`count` calls per `seconds`."""

    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}s"


@dataclass(frozen=True)
class RateLimits:
    """An upstream's budgets; None: that kind is not limited."""

    session: Budget | None = None
    anonymous: Budget | None = None
    upstream: Budget | None = None

    def __str__(self) -> str:
        kinds = [f"{kind} {budget}" for kind in KINDS if (budget := getattr(self, kind))]
        return ", ".join(kinds) or "off"


def parse_budget(value: Any, where: str) -> Budget | None:
    """ "120/60" or [120, 60] (calls / seconds); None or "off": no limit."""
    if value in _OFF:
        return None
    parts = value.split("/") if isinstance(value, str) else value
    try:
        count, seconds = (int(str(part).strip()) for part in parts)
    except (TypeError, ValueError):
        count = seconds = 0
    if count < 1 or seconds < 1:
        raise ImproperlyConfigured(
            f'{where}: {value!r} is not a budget. Write calls/seconds, e.g. "120/60" or '
            '[120, 60]; "off" for none.'
        )
    return Budget(count, seconds)


def parse_limits(
    name: str, defaults: Mapping[str, Any], override: Mapping[str, Any] | None
) -> RateLimits:
    """An upstream's budgets: BFF_RATE_LIMITS (its plain kinds, then "<name>.<kind>"
    entries), then the upstream's own "rate_limits" in BFF_UPSTREAMS."""
    chosen: dict[str, Budget | None] = {}
    own = name + "."
    sources = [
        ("BFF_RATE_LIMITS", {k: v for k, v in defaults.items() if "." not in k}),
        ("BFF_RATE_LIMITS", {k[len(own) :]: v for k, v in defaults.items() if k.startswith(own)}),
    ]
    if override is not None:
        if not isinstance(override, Mapping):
            raise ImproperlyConfigured(
                f"BFF_UPSTREAMS[{name!r}]['rate_limits'] is a mapping of kind to budget, "
                f'e.g. {{"session": "120/60"}}.'
            )
        sources.append((f"BFF_UPSTREAMS[{name!r}]['rate_limits']", override))
    for setting, values in sources:
        for kind, value in values.items():
            if kind not in KINDS:
                raise ImproperlyConfigured(
                    f"{setting}: unknown kind {kind!r}; the kinds are {', '.join(KINDS)}."
                )
            chosen[kind] = parse_budget(value, f"{setting}[{kind!r}]")
    return RateLimits(**chosen)


def unknown_upstreams(defaults: Mapping[str, Any], names: set[str]) -> None:
    """BFF_RATE_LIMITS entries "<name>.<kind>" must name a configured upstream."""
    for key in defaults:
        upstream = key.partition(".")[0]
        if "." in key and upstream not in names:
            raise ImproperlyConfigured(
                f"BFF_RATE_LIMITS[{key!r}]: there is no upstream {upstream!r} "
                f"(BFF_UPSTREAMS has {', '.join(sorted(names)) or 'none'})."
            )
