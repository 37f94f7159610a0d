"""The registry of named upstream APIs and one pooled HTTP session per upstream per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool

from bff.conf import bff_settings

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
    if "methods" in spec:
        spec["methods"] = tuple(m.upper() for m in spec["methods"])
    return Upstream(name=name, **{**spec, "url": url})


_registry: dict[str, Upstream] | None = None
_sessions: dict[str, requests.Session] = {}
_pools: dict[str, HTTPConnectionPool] = {}
_lock = threading.Lock()


def upstreams() -> dict[str, Upstream]:
    global _registry
    if _registry is None:
        _registry = {name: _build(name, raw) for name, raw in bff_settings.BFF_UPSTREAMS.items()}
    return _registry


def get_upstream(name: str) -> Upstream:
    """The configured upstream; KeyError when there is none of that name."""
    return upstreams()[name]


def http_session(upstream: Upstream) -> requests.Session:
    """The pooled keep-alive session for `upstream` (thread-safe for requests)."""
    session = _sessions.get(upstream.name)
    if session is None:
        with _lock:
            session = _sessions.get(upstream.name)
            if session is None:
                session = requests.Session()
                session.trust_env = False
                # One session serves every user: it must never keep an upstream's cookies.
                session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
                adapter = HTTPAdapter(
                    pool_connections=1, pool_maxsize=upstream.pool_size, max_retries=0
                )
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                _sessions[upstream.name] = session
    return session


def connection_pool(upstream: Upstream) -> HTTPConnectionPool:
    """The urllib3 pool under `upstream`'s session: the /api proxy talks to it directly,
    sparing requests' per-call work (about 0.3 ms a call here, docs/benchmarks.md)."""
    pool = _pools.get(upstream.name)
    if pool is None:
        adapter = http_session(upstream).get_adapter(upstream.url)
        pool = _pools[upstream.name] = adapter.poolmanager.connection_from_url(upstream.url)
    return pool


def _reset(*, setting: str, **kwargs: Any) -> None:
    global _registry
    if setting == "BFF_UPSTREAMS":
        _registry = None
        _sessions.clear()
        _pools.clear()


setting_changed.connect(_reset)
