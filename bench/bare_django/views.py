"""The one forwarding view, and a health check for the harness."""

from __future__ import annotations

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from requests.adapters import HTTPAdapter

# One pooled keep-alive session per process, sized for gunicorn's threads (like the BFF's).
_session = requests.Session()
_session.trust_env = False
_session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=32, max_retries=0))


def forward_view(request: HttpRequest, path: str) -> HttpResponse:
    """GET the same path upstream; answer with its status, body and content type."""
    upstream = _session.get(
        f"{settings.BENCH_UPSTREAM_URL}/{path}", timeout=(3.05, 30), allow_redirects=False
    )
    return HttpResponse(
        upstream.content,
        status=upstream.status_code,
        content_type=upstream.headers.get("Content-Type"),
    )


def healthz_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
