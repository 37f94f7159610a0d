"""Every setting of the bff app, read in one place with its default.

Use `from bff.conf import bff_settings` and read attributes; `override_settings` works
because the cache is dropped on Django's `setting_changed` signal.
"""

from __future__ import annotations

from typing import Any

from oidc.app_settings import AppSettings

DEFAULTS: dict[str, Any] = {
    # Refresh when remaining life < min(buffer, lifetime / 2).
    "BFF_REFRESH_BUFFER_SECONDS": 300,
    # Fernet keys (urlsafe base64, 32 bytes); the first encrypts, all decrypt.
    # Empty: one key derived from SECRET_KEY (deploy check bff.W001).
    "BFF_TOKEN_ENCRYPTION_KEYS": [],
    # Dotted path of the single-flight refresh lock class (bff.locks.*), imported when read.
    "BFF_LOCK_BACKEND": "bff.locks.database.DatabaseLock",
    "BFF_LOCK_REDIS_URL": "redis://127.0.0.1:6379/0",
    # Connect and read timeout towards the lock's Redis: short, so a partition cannot hold
    # a worker; past it the refresh uses the database lock.
    "BFF_LOCK_REDIS_TIMEOUT_SECONDS": 0.25,
    # How long a request waits for a sibling's refresh before giving up (503).
    "BFF_LOCK_WAIT_SECONDS": 20.0,
    # Backoff after a transient refresh failure: first wait, doubled up to the maximum.
    "BFF_REFRESH_BACKOFF_SECONDS": 2.0,
    "BFF_REFRESH_BACKOFF_MAX_SECONDS": 60.0,
    # Session limits enforced on the server.
    "BFF_SESSION_MAX_AGE_SECONDS": 7 * 24 * 3600,
    "BFF_SESSION_IDLE_SECONDS": 24 * 3600,
    # last_seen is written at most this often.
    "BFF_LAST_SEEN_INTERVAL_SECONDS": 60,
    # Named upstreams: {"name": "https://base"} or {"name": {"url": ..., ...}}.
    "BFF_UPSTREAMS": {},
    # More route rules per upstream, {"name": [rule, ...]}, added to BFF_UPSTREAMS[name]
    # ["rules"] (docs/gateway.md): {"path": "/admin", "deny": true}, {"methods": ["DELETE"],
    # "path": "/items", "scopes": ["items:write"]}, {"path": "/b", "claims": {"groups": "b"}}.
    "BFF_ROUTE_RULES": {},
    # Call budgets per upstream, each "calls/seconds" or (calls, seconds); off when absent:
    # "session" per signed-in session, "anonymous" per client address without a session,
    # "upstream" for everyone together. "<name>.<kind>" sets one upstream's budget, as does
    # BFF_UPSTREAMS[name]["rate_limits"] ("off" lifts one). Counted in the default cache.
    "BFF_RATE_LIMITS": {},
    # After a store (the cache, the lock's Redis) fails, it is skipped this long before one
    # call tries it again: a partition costs one timeout, not one per request.
    "BFF_STORE_RETRY_SECONDS": 2.0,
    # Cache records in the default cache: None = when it is shared (Redis, memcached).
    "BFF_RECORD_CACHE": None,
    # Also the longest a host may serve a session ended elsewhere when the "ended" mark could
    # not be written to the cache (a Redis blip): the cached copy expires after this.
    "BFF_RECORD_CACHE_SECONDS": 30,
    # How long a step-up sign-in link (an /api step_up_required's login_url) stays valid.
    "BFF_STEP_UP_LINK_SECONDS": 600,
    # URL names under which an address with no view still gets JSON errors (views marked
    # @json_api always do).
    "BFF_JSON_URL_NAMES": ("api", "accounts:session"),
    # The proxies in front (addresses or networks, e.g. "10.0.0.0/8") whose X-Forwarded-For
    # names the client; empty: nobody's, the client is REMOTE_ADDR. Set it only behind a proxy.
    "BFF_TRUSTED_PROXIES": (),
    # The page (URL name) that tells a person why their session ended and offers sign-in.
    "BFF_SESSION_ENDED_URL": "accounts:session_ended",
    # Paths the token middleware never touches.
    "BFF_EXEMPT_PATH_PREFIXES": ("/static/", "/healthz", "/readyz", "/metrics", "/favicon.ico"),
    # Who may read /metrics: client addresses or networks (the client as client_address
    # sees it, so behind BFF_TRUSTED_PROXIES the client's own, never the proxy's).
    "BFF_METRICS_ALLOWED_IPS": ("127.0.0.1", "::1"),
    # When set, /metrics also wants "Authorization: Bearer <this>".
    "BFF_METRICS_TOKEN": "",
    # /metrics reports the live sessions: one COUNT query per scrape. False: not reported.
    "BFF_METRICS_LIVE_SESSIONS": True,
    # /readyz: each check (database, shared cache, the lock's Redis) may take this long.
    "BFF_READY_TIMEOUT_SECONDS": 1.0,
    # The checks whose failure makes /readyz answer 503. Redis is an accelerator (the BFF
    # works on without it), so by default only the database: a Redis outage shared by every
    # instance must not take them all out of the load balancer.
    "BFF_READY_REQUIRED_CHECKS": ("database",),
    # OpenTelemetry traces (bff/tracing.py): config/settings.py turns this on when
    # OTEL_EXPORTER_OTLP_ENDPOINT is set; it needs the `otel` extra installed.
    "BFF_TRACING": False,
    # purge_sessions deletes session records ended more than this many days ago.
    "BFF_PURGE_ENDED_AFTER_DAYS": 30,
    # Live data (bff/live/): open streams (server-sent events and WebSockets) per session and
    # per process; beyond them a new one is refused (429 / close code 1013).
    "BFF_LIVE_MAX_STREAMS_PER_SESSION": 8,
    "BFF_LIVE_MAX_STREAMS_PER_PROCESS": 1000,
    # Event streams under WSGI hold a server thread each: at most this many per process, so
    # they never take every thread from ordinary requests (gunicorn's threads, default 8).
    "BFF_LIVE_MAX_EVENT_STREAMS_PER_PROCESS": 4,
    # The largest WebSocket message relayed either way (close code 1009 beyond it).
    "BFF_LIVE_MAX_MESSAGE_BYTES": 1024 * 1024,
    # How often open streams check that their session is still live (one cache round trip or
    # one query per process per check, whatever the number of streams).
    "BFF_LIVE_CHECK_SECONDS": 0.5,
    # Where pages open WebSockets, when not on their own origin (`make run`: the ASGI process
    # beside the WSGI one, ws://127.0.0.1:8003); empty: the page's origin (a proxy in front
    # routes Upgrade requests, docs/deploy.md). Also allowed in the CSP's connect-src.
    "BFF_LIVE_WEBSOCKET_URL": "",
    # An event stream whose upstream sends nothing (not even a comment) this long is cut.
    "BFF_LIVE_IDLE_SECONDS": 300.0,
}


bff_settings = AppSettings(DEFAULTS, import_strings=["BFF_LOCK_BACKEND"])
