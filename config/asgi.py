"""ASGI entry point of the BFF (`uvicorn config.asgi:application`): WebSockets under /api
(bff.live.websocket), any HTTP request to Django. Deployed beside the WSGI process for the
WebSocket paths only: see docs/deploy.md."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from bff.live.websocket import with_websockets  # noqa: E402 - after Django is set up

application = with_websockets(django_application)
