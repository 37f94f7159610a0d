"""Settings of the BFF. Every environment variable of the contract is read here, once.

See .env.example for each variable. With no OIDC_ISSUER the demo wiring is used:
the built-in provider on http://localhost:8001 and the demo API on http://127.0.0.1:8002.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from bff.conf import DEFAULTS as BFF_DEFAULTS

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# HTTPS hardening: on unless DEBUG; DJANGO_HTTPS=false serves plain http (local test servers).
HTTPS = env.bool("DJANGO_HTTPS", default=not DEBUG)
# The insecure default only serves development; `check --deploy` flags it (security.W009).
SECRET_KEY = env("DJANGO_SECRET_KEY", default="django-insecure-development-only-change-me")
# Rotating SECRET_KEY: the new one above, the old ones here until sessions made with them end.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "accounts",
    "bff",
    "pages",
]

MIDDLEWARE = [
    "bff.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "accounts.middleware.ProviderAwareCSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "bff.middleware.RequestIDMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "bff.middleware.TokenSessionMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite by default, PostgreSQL for scale-out. Persistent connections by default:
# a new connection per request costs more than the rest of the request.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'bff.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Health-checked after a failure, not with a SELECT 1 before each request (its docstring).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE makes every atomic block take SQLite's write lock up front: that is the
    # database lock backend's mutual exclusion on SQLite. WAL lets readers run meanwhile.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0 if DEBUG else DATABASES["default"]["CONN_MAX_AGE"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://bff")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "config.redis_cache.RedisCache"
    # Milliseconds, not seconds: a Redis that stops answering must not hold a worker.
    _timeout = env.float("CACHE_TIMEOUT_SECONDS", default=0.25)
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"socket_connect_timeout": _timeout, "socket_timeout": _timeout}
    )

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "accounts.backends.OIDCBackend",
    "django.contrib.auth.backends.ModelBackend",  # admins with a password
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"

# Sessions: one opaque HttpOnly cookie holding the session id, nothing else.
# Under HTTPS the __Host- prefix pins it to this host: Secure, Path=/, no Domain.
SESSION_COOKIE_NAME = "__Host-bff_session" if HTTPS else "bff_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# With a shared cache (Redis) sessions are read from it and written through to the
# database; a per-process cache could serve a signed-out session, so then only the database.
# bff.session_store: database sessions that load the token session record in the same query,
# cached (Django's cached_db, surviving its cache) when the cache is shared (Redis).
SESSION_ENGINE = env("DJANGO_SESSION_ENGINE", default="bff.session_store")
# Messages live in the session too (the default storage sets a cookie of its own).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
# The CSRF secret lives in the session: the browser holds the one session cookie only.
CSRF_USE_SESSIONS = True
CSRF_FAILURE_VIEW = "pages.views.csrf_failure_view"
CSRF_COOKIE_NAME = "bff_csrftoken"

# HTTPS hardening: on unless DEBUG (HTTPS is set at the top).
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=HTTPS)
# Behind a TLS-terminating proxy: its X-Forwarded-Proto says https and its X-Forwarded-For
# names the client, believed from BFF_TRUSTED_PROXIES only (config/gunicorn.conf.py reads the
# same two variables and drops those headers from every other peer).
BEHIND_PROXY = env.bool("DJANGO_BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Browser features our pages never use.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
# Serve straight from static/ too, so tests and a fresh checkout need no collectstatic.
WHITENOISE_USE_FINDERS = True

# --- The apps' own settings ------------------------------------------------------------
# Each app documents its settings and holds their defaults in its conf module (oidc/conf.py,
# accounts/conf.py, bff/conf.py); here the environment sets only what it names.


def _from_env(name: str, read=env.str) -> None:
    if name in env.ENVIRON:
        globals()[name] = read(name)


OIDC_ISSUER = env("OIDC_ISSUER", default="")
# Several providers: OIDC_PROVIDERS=corp,google and OIDC_CORP_ISSUER, OIDC_CORP_CLIENT_ID, ...
_PROVIDER_NAMES = env.list("OIDC_PROVIDERS", default=[])
# Demo wiring: the built-in provider and the demo API, as `make run` starts them.
DEMO_MODE = not OIDC_ISSUER and not _PROVIDER_NAMES
DEMO_ISSUER = env("DEMO_IDP_ISSUER", default="http://localhost:8001/o")
DEMO_API_URL = env("DEMO_API_URL", default="http://127.0.0.1:8002")


def _provider_from_env(prefix: str, **defaults: str) -> dict:
    """One provider's settings from OIDC_<...>_ variables; unset ones keep oidc/conf.py's."""
    provider = {
        "issuer": env(f"{prefix}ISSUER", default=defaults.get("issuer", "")),
        "client_id": env(f"{prefix}CLIENT_ID", default=defaults.get("client_id", "")),
        "client_secret": env(f"{prefix}CLIENT_SECRET", default=defaults.get("client_secret", "")),
        "auth_params": dict(parse_qsl(env(f"{prefix}AUTH_PARAMS", default=""))),
    }
    for key in ("scopes", "userinfo", "client_auth_method", "display_name", "logout_id_token_hint"):
        if f"{prefix}{key.upper()}" in env.ENVIRON:
            provider[key] = env(f"{prefix}{key.upper()}")
    # private_key_jwt and PAR (oidc/conf.py ProviderConfig).
    for key in ("client_private_key", "client_key_id", "use_par"):
        if f"{prefix}{key.upper()}" in env.ENVIRON:
            provider[key] = env(f"{prefix}{key.upper()}")
    return provider


# Admin rights from the provider's claim, and password sign-in to /admin/ (accounts/conf.py).
_from_env("OIDC_STAFF_CLAIM")
_from_env("OIDC_STAFF_VALUES", env.list)
_from_env("OIDC_SUPERUSER_VALUES", env.list)
_from_env("OIDC_STAFF_PROVIDERS", env.list)
_from_env("ACCOUNTS_ADMIN_PASSWORD_LOGIN", env.bool)
# Per-client limits: "login=30/60,callback=30/60,backchannel=120/60" (count/seconds).
if "ACCOUNTS_RATE_LIMITS" in env.ENVIRON:
    ACCOUNTS_RATE_LIMITS = {
        scope: tuple(int(n) for n in rate.split("/"))
        for scope, _, rate in (p.partition("=") for p in env.list("ACCOUNTS_RATE_LIMITS"))
    }


if _PROVIDER_NAMES:
    OIDC_PROVIDERS = {
        name: _provider_from_env(f"OIDC_{name.upper().replace('-', '_')}_")
        for name in _PROVIDER_NAMES
    }
elif DEMO_MODE:
    OIDC_PROVIDERS = {
        "oidc": _provider_from_env(
            "OIDC_",
            issuer=DEMO_ISSUER,
            client_id="bff-demo",
            client_secret="bff-demo-secret-development-only",
        )
    }
else:
    OIDC_PROVIDERS = {env("OIDC_PROVIDER_NAME", default="oidc"): _provider_from_env("OIDC_")}

# Content-Security-Policy (django-csp): our own scripts, styles and connections only; no
# inline script. The middleware adds the providers to form-action (accounts/middleware.py):
# sign-out ends with a redirect to the provider's end-session endpoint.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# WebSockets served on another origin than the pages (bff/conf.py BFF_LIVE_WEBSOCKET_URL).
_from_env("BFF_LIVE_WEBSOCKET_URL")
_from_env("BFF_LIVE_MAX_STREAMS_PER_SESSION", env.int)
_from_env("BFF_LIVE_MAX_STREAMS_PER_PROCESS", env.int)
_from_env("BFF_LIVE_MAX_EVENT_STREAMS_PER_PROCESS", env.int)
_from_env("BFF_LIVE_MAX_MESSAGE_BYTES", env.int)
if globals().get("BFF_LIVE_WEBSOCKET_URL"):
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["connect-src"].append(BFF_LIVE_WEBSOCKET_URL)  # noqa: F821
_from_env("BFF_REFRESH_BUFFER_SECONDS", env.int)
_from_env("BFF_TOKEN_ENCRYPTION_KEYS", env.list)
_from_env("BFF_LOCK_BACKEND")
_from_env("BFF_LOCK_REDIS_URL")
_from_env("BFF_SESSION_MAX_AGE_SECONDS", env.int)
_from_env("BFF_SESSION_IDLE_SECONDS", env.int)
_from_env("BFF_PUBLIC_URL")
# Observability (docs/observability.md): who may scrape /metrics, what /readyz requires, how
# long ended records and audit rows are kept.
_from_env("BFF_METRICS_ALLOWED_IPS", env.list)
_from_env("BFF_METRICS_TOKEN")
_from_env("BFF_METRICS_LIVE_SESSIONS", env.bool)
_from_env("BFF_READY_REQUIRED_CHECKS", env.list)
_from_env("BFF_READY_TIMEOUT_SECONDS", env.float)
_from_env("BFF_PURGE_ENDED_AFTER_DAYS", env.int)
_from_env("ACCOUNTS_AUDIT_RETENTION_DAYS", env.int)
# Traces go to an OpenTelemetry collector when its endpoint is set (the exporter reads the
# OTEL_* variables itself); they need the `otel` extra installed.
BFF_TRACING = bool(
    env("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
    or env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", default="")
)
if BEHIND_PROXY:
    _from_env("BFF_TRUSTED_PROXIES", env.list)
# The session cookie lasts as long as the longest a session may live.
SESSION_COOKIE_AGE = globals().get(
    "BFF_SESSION_MAX_AGE_SECONDS", BFF_DEFAULTS["BFF_SESSION_MAX_AGE_SECONDS"]
)
_DEMO_UPSTREAMS = [
    f"graphql={DEMO_API_URL}/graphql",
    f"demo={DEMO_API_URL}/rest",
    f"billing={DEMO_API_URL}/billing",
]
_UPSTREAM_PAIRS = env.list("BFF_UPSTREAMS", default=_DEMO_UPSTREAMS if DEMO_MODE else [])
if any("=" not in pair for pair in _UPSTREAM_PAIRS):
    raise ImproperlyConfigured("BFF_UPSTREAMS is a list of name=url pairs, separated by commas.")
BFF_UPSTREAMS = dict(pair.split("=", 1) for pair in _UPSTREAM_PAIRS)
# Route rules per upstream as JSON, {"demo": [{"path": "/admin", "deny": true}]}, and call
# budgets, "session=120/60,anonymous=30/60,upstream=1000/1,demo.session=20/60" (docs/gateway.md).
if "BFF_ROUTE_RULES" in env.ENVIRON:
    try:
        BFF_ROUTE_RULES = json.loads(env.ENVIRON["BFF_ROUTE_RULES"])
    except ValueError as exc:
        raise ImproperlyConfigured(f"BFF_ROUTE_RULES is not JSON: {exc}.") from exc
_from_env("BFF_RATE_LIMITS", env.dict)
# An upstream's own audience (docs/gateway.md): BFF_UPSTREAM_AUDIENCE_<NAME> as a query
# string, "resource=<uri>" or "exchange=<audience>&scope=<scopes>".
for _name in BFF_UPSTREAMS:
    _demo_billing = DEMO_MODE and _name == "billing" and "BFF_UPSTREAMS" not in env.ENVIRON
    _default = f"resource={DEMO_API_URL}/billing" if _demo_billing else ""
    _audience = env(f"BFF_UPSTREAM_AUDIENCE_{_name.upper().replace('-', '_')}", default=_default)
    if _audience:
        BFF_UPSTREAMS[_name] = {"url": BFF_UPSTREAMS[_name], "audience": dict(parse_qsl(_audience))}

# LOG_FORMAT: "kv" (the default, key=value text) or "json" (one JSON object per line: time,
# level, logger, message, request_id and the record's extra fields; bff/logging.py).
LOG_FORMAT = env("LOG_FORMAT", default="kv")
if LOG_FORMAT not in ("kv", "json"):
    raise ImproperlyConfigured("LOG_FORMAT is kv (key=value text) or json.")
if LOG_FORMAT == "json":
    LOGGING_CONFIG = "bff.logging.configure_json"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "bff.logging.RequestIDFilter"},
        "expected_outage": {"()": "bff.logging.ExpectedOutageFilter"},
    },
    "formatters": {
        "kv": {
            "format": "%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s"
        },
        "json": {"()": "bff.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "expected_outage"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}
