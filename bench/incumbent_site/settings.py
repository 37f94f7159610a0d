"""Settings of the incumbent: startproject's defaults, production-style, from the environment.

    INCUMBENT_DATABASE_URL   sqlite:///path or postgres://user@host:port/name
    INCUMBENT_CACHE_URL      redis://host:port/db: sessions cached_db on that cache (optional)
    INCUMBENT_UPSTREAM_URL   the upstream /api/bench/ forwards to
    INCUMBENT_OIDC_*         the provider's endpoints and this client's credentials

Database connections persist with a health check (CONN_MAX_AGE, CONN_HEALTH_CHECKS), as
Django's deployment docs advise and as the BFF's settings do.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

DEBUG = False
SECRET_KEY = "bench-incumbent-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "mozilla_django_oidc",
    "revproxy",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.incumbent_site.urls"
WSGI_APPLICATION = "bench.incumbent_site.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Server errors to the console (the server's log); nothing is written for a request that works.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR"}},
}


def _database(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parts.path}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "postgres",
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": parts.port or 5432,
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
    }


DATABASES = {"default": _database(os.environ["INCUMBENT_DATABASE_URL"])}
if os.environ.get("INCUMBENT_CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["INCUMBENT_CACHE_URL"],
            "KEY_PREFIX": "incumbent",
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

AUTHENTICATION_BACKENDS = ["mozilla_django_oidc.auth.OIDCAuthenticationBackend"]
OIDC_RP_CLIENT_ID = os.environ["INCUMBENT_OIDC_CLIENT_ID"]
OIDC_RP_CLIENT_SECRET = os.environ["INCUMBENT_OIDC_CLIENT_SECRET"]
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = "openid email"
OIDC_OP_AUTHORIZATION_ENDPOINT = os.environ["INCUMBENT_OIDC_AUTHORIZATION_ENDPOINT"]
OIDC_OP_TOKEN_ENDPOINT = os.environ["INCUMBENT_OIDC_TOKEN_ENDPOINT"]
OIDC_OP_USER_ENDPOINT = os.environ["INCUMBENT_OIDC_USERINFO_ENDPOINT"]
OIDC_OP_JWKS_ENDPOINT = os.environ["INCUMBENT_OIDC_JWKS_ENDPOINT"]
OIDC_USE_PKCE = True
# The proxy needs the access token: kept in the session (in the clear, as the library does).
OIDC_STORE_ACCESS_TOKEN = True
LOGIN_REDIRECT_URL = "/healthz"

INCUMBENT_UPSTREAM_URL = os.environ.get("INCUMBENT_UPSTREAM_URL", "http://127.0.0.1:9")
