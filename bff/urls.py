"""The /api gateway URLs: every path under /api/ goes to the proxy, which routes on the raw
request target itself (see bff.proxy)."""

from django.urls import re_path

from bff.proxy import proxy_view

urlpatterns = [
    re_path(r"", proxy_view, name="api"),
]
