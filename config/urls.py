"""Root URLs of the BFF (see the URL contract in DESIGN.md)."""

from django.contrib import admin
from django.urls import include, path

from bff import views

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("items", views.items_view, name="items"),
    path("healthz", views.healthz_view, name="healthz"),
    path("readyz", views.readyz_view, name="readyz"),
    path("auth/", include("accounts.urls")),
    path("api/", include("bff.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "bff.views.bad_request_view"
handler403 = "bff.views.permission_denied_view"
handler404 = "bff.views.not_found_view"
handler500 = "bff.views.server_error_view"
