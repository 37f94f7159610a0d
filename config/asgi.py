"""ASGI entry point of the BFF (`uvicorn config.asgi:application`): WebSockets under /api
(bff.live.websocket), any HTTP request to Django. Deployed beside the WSGI process for the
WebSocket paths only: see docs/deploy.md."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from bff.live.websocket import with_websockets  # noqa: E402 - after Django is set up

application = with_websockets(django_application)
# A malformed BFF_UPSTREAMS (a URL, a route rule, a rate limit) stops the process here with
# what to fix, instead of failing the first API call.
from bff.upstreams import upstreams  # noqa: E402 - once Django is set up

upstreams()
