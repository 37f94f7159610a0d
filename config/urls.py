"""Root URLs of the BFF (see the URL contract in DESIGN.md)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("pages.urls")),
    path("auth/", include("accounts.urls")),
    path("api/", include("bff.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "pages.views.bad_request_view"
handler403 = "pages.views.permission_denied_view"
handler404 = "pages.views.not_found_view"
handler500 = "pages.views.server_error_view"
