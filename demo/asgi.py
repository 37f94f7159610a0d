"""ASGI entry point of the demo API (`uvicorn demo.asgi:application`): HTTP to Django, the
WebSocket at /graphql to strawberry's subscriptions (demo/live.py)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
django_application = get_asgi_application()

from demo.live import with_live_data  # noqa: E402 - after Django is set up

application = with_live_data(django_application)
