"""Settings of the demo API: a sample upstream that trusts only bearer JWTs from one issuer.

It runs as its own server (gunicorn demo.wsgi) with its own database, and keeps nothing from
the BFF's session: no sessions, auth or admin apps. Every DEMO_* variable is read here, once.
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    # Values already in the environment win, so a test's DEMO_* variables are not overridden.
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEMO_DEBUG", default=False)
# The insecure default only serves development; `check --deploy` flags it (security.W009).
SECRET_KEY = env("DEMO_SECRET_KEY", default="django-insecure-demo-api-development-only")
ALLOWED_HOSTS = env.list("DEMO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = ["demo.apps.DemoConfig"]

# Bearer-only: no cookies are read, so neither sessions nor CSRF middleware apply.
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
# A JSON API with no cookie authentication has no pages to frame and no forms to forge.
SILENCED_SYSTEM_CHECKS = ["security.W002", "security.W003"]

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"

DATABASES = {
    "default": env.db("DEMO_DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'demo.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = 60
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # gunicorn's threads write concurrently: IMMEDIATE takes the write lock up front instead of
    # failing on lock upgrade, and WAL lets readers run meanwhile.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Request bodies are small JSON documents; anything larger is refused before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Bearer token verification (demo.auth and demo.jwks read these) ----------------------
DEMO_ISSUER = env("DEMO_ISSUER", default="http://localhost:8001/o")
DEMO_AUDIENCE = env("DEMO_AUDIENCE", default="demo-api")
# The acr values /rest/vault accepts (the built-in provider's second step); anything less is
# answered 401 insufficient_user_authentication (RFC 9470).
DEMO_STEP_UP_ACR_VALUES = env.list("DEMO_STEP_UP_ACR_VALUES", default=["urn:bff:demo:mfa"])
# The billing API (/billing/...) takes only tokens minted for it (an RFC 8707 resource).
DEMO_BILLING_AUDIENCE = env("DEMO_BILLING_AUDIENCE", default="http://127.0.0.1:8002/billing")
# Clock skew tolerated on exp, iat and nbf.
DEMO_JWT_LEEWAY_SECONDS = 30
# An unknown kid re-fetches the JWKS at most this often, so random kids cannot flood the provider.
DEMO_JWKS_REFETCH_INTERVAL = env.float("DEMO_JWKS_REFETCH_INTERVAL", default=10.0)
# Keys are re-read after this long even without an unknown kid, so removed keys stop working.
DEMO_JWKS_MAX_AGE_SECONDS = 3600.0
DEMO_PROVIDER_TIMEOUT_SECONDS = 5.0
# Live data (itemAdded, /rest/items/events) looks for new items this often.
DEMO_LIVE_POLL_SECONDS = 0.2

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DEMO_LOG_LEVEL", default="INFO")},
}
