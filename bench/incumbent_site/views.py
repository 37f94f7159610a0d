"""The proxy view: django-revproxy's ProxyView for signed-in users, with their bearer token."""

from __future__ import annotations

import urllib3
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from revproxy import views as revproxy_views
from revproxy.views import ProxyView

# revproxy's module-wide PoolManager keeps one connection per host by default; sized to
# gunicorn's 16 threads like the BFF's and the floor's pools, so no run pays for new
# connections the defaults would make.
revproxy_views.HTTP_POOLS = urllib3.PoolManager(maxsize=32)


class APIProxyView(ProxyView):
    upstream = settings.INCUMBENT_UPSTREAM_URL

    def dispatch(self, request: HttpRequest, path: str) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"error": "not signed in"}, status=401)
        return super().dispatch(request, path)

    def get_request_headers(self) -> dict[str, str]:
        headers = super().get_request_headers()
        headers["Authorization"] = f"Bearer {self.request.session['oidc_access_token']}"
        return headers


def healthz_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
