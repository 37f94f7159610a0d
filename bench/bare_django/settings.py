"""Settings of the bare-Django floor: production-style (DEBUG off), nothing installed."""

from __future__ import annotations

import os

DEBUG = False
SECRET_KEY = "bench-bare-django-not-a-secret"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.bare_django.urls"
WSGI_APPLICATION = "bench.bare_django.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
LOGGING_CONFIG = None

# Where the view forwards to: the benchmark upstream's base URL.
BENCH_UPSTREAM_URL = os.environ.get("BENCH_UPSTREAM_URL", "http://127.0.0.1:9").rstrip("/")
