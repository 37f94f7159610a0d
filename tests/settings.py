"""Test settings: environment defaults for plain-http test servers, then the real settings."""

import os

os.environ.setdefault("DJANGO_HTTPS", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from config.settings import *  # noqa: E402,F403
from config.settings import DATABASES, VAR_DIR  # noqa: E402

VAR_DIR.mkdir(exist_ok=True)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so live-server threads and gunicorn workers share it; one per
    # test run, so runs side by side do not drop each other's tables.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_bff_{os.getpid()}.sqlite3")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The suite signs in hundreds of times from 127.0.0.1; the rate-limit tests lower these.
ACCOUNTS_RATE_LIMITS = {
    "login": (100_000, 60),
    "callback": (100_000, 60),
    "backchannel": (100_000, 60),
}
