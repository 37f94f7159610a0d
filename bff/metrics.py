"""Prometheus metrics of the BFF: requests, refreshes, locks, stores, upstreams, sessions.

The definitions and the small helpers the code calls. /metrics (pages.views.metrics_view)
serves `exposition()` to whom `scrape_refusal` lets through. Under gunicorn
(config/gunicorn.conf.py) prometheus-client's multiprocess mode adds up the workers' values
from PROMETHEUS_MULTIPROC_DIR; without that variable each process serves its own registry.
Every metric, its labels and the alerts to set on them: docs/observability.md.

Labels only take bounded values: provider and upstream names from the settings, URL names,
outcomes and end reasons from fixed lists, status codes, known HTTP methods.

Not here yet: streams. The gateway has no SSE or WebSocket streams; when it has, count the
open ones in a Gauge by upstream with multiprocess_mode="livesum".
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from bff import tracing
from bff.addresses import client_address
from bff.conf import bff_settings
from bff.exceptions import SessionEnded, UpstreamError
from bff.responses import json_error
from oidc.exceptions import ProviderUnavailable

F = TypeVar("F", bound=Callable[..., Any])

# Seconds; the last ones are the lock wait and an upstream's read timeout.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})

HTTP_REQUESTS = Counter(
    "bff_http_requests_total",
    "Requests answered, by URL name, method and status code.",
    ["view", "method", "status"],
)
HTTP_DURATION = Histogram(
    "bff_http_request_duration_seconds",
    "Time until a request's response (its first byte when the body streams), by URL name.",
    ["view"],
    buckets=BUCKETS,
)
REFRESHES = Counter(
    "bff_refreshes_total",
    "Refreshes that were due, by provider and outcome: ok, rejected (invalid_grant: the "
    "session ended), identity_changed, transient (the provider failed; backing off), shared "
    "(a sibling had refreshed), ended (meanwhile), lock_lost, lock_timeout, backing_off.",
    ["provider", "outcome"],
)
REFRESH_DURATION = Histogram(
    "bff_refresh_duration_seconds",
    "Time of a refresh grant at the provider, the new ID token's check included, by provider.",
    ["provider"],
    buckets=BUCKETS,
)
LOCK_WAIT = Histogram(
    "bff_lock_wait_seconds",
    "Time a due refresh waited for its session's lock (until it gave up, on a timeout).",
    buckets=BUCKETS,
)
LOCK_FALLBACKS = Counter(
    "bff_lock_fallbacks_total",
    "Refresh locks taken from the database because the lock's Redis failed.",
)
STORE_ERRORS = Counter(
    "bff_store_errors_total",
    "Calls to a store (cache, lock_redis, database) that failed, by store and operation.",
    ["store", "operation"],
)
STORE_DOWN = Gauge(
    "bff_store_down",
    "1 while a store is seen down (by any live worker of this instance), else 0.",
    ["store"],
    multiprocess_mode="livemax",
)
UPSTREAM_REQUESTS = Counter(
    "bff_upstream_requests_total",
    "Calls to upstream APIs (the /api gateway and the server-side client), by upstream, "
    "method and status class (1xx-5xx; timeout and unreachable when none came).",
    ["upstream", "method", "status_class"],
)
UPSTREAM_DURATION = Histogram(
    "bff_upstream_request_duration_seconds",
    "Time until an upstream's response headers, by upstream, method and status class.",
    ["upstream", "method", "status_class"],
    buckets=BUCKETS,
)
SIGN_INS = Counter(
    "bff_sign_ins_total",
    "Sessions started (sign-ins), by provider.",
    ["provider"],
)
SESSIONS_ENDED = Counter(
    "bff_sessions_ended_total",
    "Sessions ended, by provider and reason (a sign-out is reason=logout).",
    ["provider", "reason"],
)


def known_method(method: str | None) -> str:
    """The method as a label: one of METHODS, else "other" (a client names any it likes)."""
    method = (method or "").upper()
    return method if method in METHODS else "other"


def status_class(status: int) -> str:
    return f"{status // 100}xx"


# --- Helpers the code calls ------------------------------------------------------------------


def request_done(request: HttpRequest, status: int, started: float) -> str:
    """Count one answered request; returns its route (the URL name, "none" when unresolved)."""
    match = getattr(request, "resolver_match", None)
    route = match.view_name if match is not None else "none"
    HTTP_REQUESTS.labels(route, known_method(request.method), str(status)).inc()
    HTTP_DURATION.labels(route).observe(time.monotonic() - started)
    return route


def refreshed(provider: str, outcome: str) -> None:
    REFRESHES.labels(provider, outcome).inc()


def lock_waited(started: float) -> None:
    """A due refresh got its lock, or gave up waiting, after waiting since `started`."""
    LOCK_WAIT.observe(time.monotonic() - started)
    tracing.record_span("bff.lock_wait", started)


def lock_fell_back() -> None:
    LOCK_FALLBACKS.inc()


def store_failed(store: str, operation: str) -> None:
    STORE_ERRORS.labels(store, operation).inc()


def store_down(store: str, down: bool) -> None:
    STORE_DOWN.labels(store).set(1 if down else 0)


_ENDED_OUTCOMES = {"refresh_rejected": "rejected", "identity_changed": "identity_changed"}


def _refresh_outcome(outcome: Any) -> str:
    if isinstance(outcome, SessionEnded):
        return _ENDED_OUTCOMES.get(outcome.reason, "ended")
    if isinstance(outcome, ProviderUnavailable):
        return "transient"
    return "ok"


def observe_refresh(refresh: F) -> F:
    """Time a refresh grant, `refresh(record, now)`, and count its outcome (its return value:
    the record, or the exception the caller raises once the lock is released)."""

    @functools.wraps(refresh)
    def observed(record: Any, now: float) -> Any:
        started = time.monotonic()
        outcome: Any = None
        try:
            outcome = refresh(record, now)
            return outcome
        finally:
            REFRESH_DURATION.labels(record.provider).observe(time.monotonic() - started)
            label = "error" if outcome is None else _refresh_outcome(outcome)
            REFRESHES.labels(record.provider, label).inc()

    return observed  # type: ignore[return-value]


def observe_upstream_call(exchange: F) -> F:
    """Time and count `exchange(upstream, method, ...)`: one call to an upstream."""

    @functools.wraps(exchange)
    def observed(upstream: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        outcome = "error"
        try:
            response = exchange(upstream, method, *args, **kwargs)
            outcome = status_class(response.status_code)
            return response
        except UpstreamError as exc:
            outcome = "timeout" if exc.status == 504 else "unreachable"
            raise
        finally:
            labels = (upstream.name, known_method(method), outcome)
            UPSTREAM_REQUESTS.labels(*labels).inc()
            UPSTREAM_DURATION.labels(*labels).observe(time.monotonic() - started)

    return observed  # type: ignore[return-value]


# --- The scrape ------------------------------------------------------------------------------


class LiveSessions:
    """bff_sessions_live, counted in the database when scraped (one query)."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from bff.sessions import live_session_counts
        from bff.stores import database_store

        try:
            counts = live_session_counts()
        except DatabaseError as exc:
            database_store.failed("metrics", exc)
            return []
        family = GaugeMetricFamily(
            "bff_sessions_live",
            "Sessions neither ended nor past their idle or absolute limit, by provider "
            "(counted in the shared database: the same on every instance).",
            labels=["provider"],
        )
        for provider, count in sorted(counts.items()):
            family.add_metric([provider], count)
        return [family]


class _ThisProcess:
    """The process's own registry (without multiprocess mode)."""

    def collect(self) -> Iterable[Any]:
        return REGISTRY.collect()


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    registry = CollectorRegistry()
    # First: a database error while counting is in the counters collected after it.
    if bff_settings.BFF_METRICS_LIVE_SESSIONS:
        registry.register(LiveSessions())  # type: ignore[arg-type]
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")  # prometheus-client's own variable
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_ThisProcess())  # type: ignore[arg-type]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def allowed_networks() -> tuple[IPv4Network | IPv6Network, ...]:
    allowed = bff_settings.BFF_METRICS_ALLOWED_IPS
    return _networks(tuple(allowed.split(",") if isinstance(allowed, str) else allowed))


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]) -> tuple[IPv4Network | IPv6Network, ...]:
    try:
        return tuple(ip_network(entry.strip()) for entry in allowed if entry.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"BFF_METRICS_ALLOWED_IPS: {exc}. List addresses or networks, e.g. 10.0.0.0/8."
        ) from exc


def scrape_refusal(request: HttpRequest) -> HttpResponse | None:
    """Why this request may not read /metrics (a JSON 404 or 403), or None when it may.

    An address not in BFF_METRICS_ALLOWED_IPS is told there is nothing here; an allowed one
    without the BFF_METRICS_TOKEN bearer (when set) is refused.
    """
    try:
        address = ip_address(client_address(request))
    except ValueError:
        address = None
    address = getattr(address, "ipv4_mapped", None) or address
    if address is None or not any(address in network for network in allowed_networks()):
        return json_error(404, "not_found", "There is nothing at this address.")
    token = bff_settings.BFF_METRICS_TOKEN
    if token and not constant_time_compare(
        request.headers.get("Authorization", ""), f"Bearer {token}"
    ):
        response = json_error(403, "forbidden", "The metrics need their bearer token.")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return None
