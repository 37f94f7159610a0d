"""The registry of named upstream APIs and one connection pool per upstream per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from urllib3 import HTTPConnectionPool
from urllib3.connectionpool import connection_from_url

from bff.audiences import Audience, parse_audience
from bff.conf import bff_settings
from bff.gateway import Policy, build_policy, check_references

TOKEN_KINDS = ("user", "client", "user_or_client", "user_or_none", "none")
ALL_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Upstream:
    """One configured upstream API."""

    name: str
    url: str
    token: str = "user"
    connect_timeout: float = 3.05
    read_timeout: float = 30.0
    max_body_bytes: int = 10 * 1024 * 1024
    methods: tuple[str, ...] = ALL_METHODS
    # Connections kept per upstream per process: one per server thread is enough.
    pool_size: int = 32
    # Route rules and rate limits (bff/gateway.py).
    policy: Policy = Policy()
    # A token minted for this upstream (bff/audiences.py); None: the session's own token.
    audience: Audience | None = None

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


def _build(name: str, raw: str | dict[str, Any]) -> Upstream:
    spec = {"url": raw} if isinstance(raw, str) else dict(raw)
    url = str(spec.get("url", "")).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"BFF_UPSTREAMS[{name!r}] needs an http(s) url, got {url!r}.")
    if spec.get("token", "user") not in TOKEN_KINDS:
        raise ImproperlyConfigured(f"BFF_UPSTREAMS[{name!r}]: token must be one of {TOKEN_KINDS}.")
    spec["audience"] = parse_audience(name, spec.get("audience"))
    if spec["audience"] and spec.get("token", "user") not in ("user", "user_or_none"):
        raise ImproperlyConfigured(
            f"BFF_UPSTREAMS[{name!r}]: an audience is minted from the user's token; "
            "token must be 'user' or 'user_or_none'."
        )
    if "methods" in spec:
        spec["methods"] = tuple(m.upper() for m in spec["methods"])
    rules, limits = spec.pop("rules", []), spec.pop("rate_limits", None)
    spec["policy"] = build_policy(name, rules, limits, ALL_METHODS)
    return Upstream(name=name, **{**spec, "url": url})


_registry: dict[str, Upstream] | None = None
_pools: dict[str, HTTPConnectionPool] = {}
_lock = threading.Lock()


def upstreams() -> dict[str, Upstream]:
    global _registry
    if _registry is None:
        registry = {name: _build(name, raw) for name, raw in bff_settings.BFF_UPSTREAMS.items()}
        check_references(set(registry))
        _registry = registry
    return _registry


def get_upstream(name: str) -> Upstream:
    """The configured upstream; KeyError when there is none of that name."""
    return upstreams()[name]


def connection_pool(upstream: Upstream) -> HTTPConnectionPool:
    """The keep-alive connection pool for `upstream` in this process (thread-safe). It keeps
    no cookies and reads no proxy settings from the environment; it serves every user."""
    pool = _pools.get(upstream.name)
    if pool is None:
        with _lock:
            pool = _pools.get(upstream.name)
            if pool is None:
                pool = _pools[upstream.name] = connection_from_url(
                    upstream.url, maxsize=upstream.pool_size, block=False, retries=False
                )
    return pool


def discard_pool(upstream: Upstream, pool: HTTPConnectionPool) -> None:
    """Forget `pool` (its idle connections went stale): the next call makes a new one.
    Requests still using it finish on it."""
    with _lock:
        if _pools.get(upstream.name) is pool:
            del _pools[upstream.name]


def _reset(*, setting: str, **kwargs: Any) -> None:
    global _registry
    if setting in ("BFF_UPSTREAMS", "BFF_ROUTE_RULES", "BFF_RATE_LIMITS"):
        _registry = None
        _pools.clear()


setting_changed.connect(_reset)
