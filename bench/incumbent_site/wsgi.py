"""WSGI entry point of the incumbent (gunicorn bench.incumbent_site.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.incumbent_site.settings")
application = get_wsgi_application()
