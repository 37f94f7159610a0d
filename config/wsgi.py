"""WSGI entry point of the BFF (gunicorn config.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
# A malformed BFF_UPSTREAMS (a URL, a route rule, a rate limit) stops the process here with
# what to fix, instead of failing the first API call.
from bff.upstreams import upstreams  # noqa: E402 - once Django is set up

upstreams()
