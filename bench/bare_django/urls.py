from django.urls import path

from bench.bare_django import views

urlpatterns = [
    path("fwd/<path:path>", views.forward_view),
    path("healthz", views.healthz_view),
]
