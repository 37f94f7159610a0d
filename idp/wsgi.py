"""WSGI entry point of the built-in provider: `gunicorn idp.wsgi`."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

# Forced, not setdefault: a DJANGO_SETTINGS_MODULE meant for the BFF must not leak in here.
os.environ["DJANGO_SETTINGS_MODULE"] = "idp.settings"

application = get_wsgi_application()
