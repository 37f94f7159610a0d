"""The app's own pages, health checks and metrics."""

from django.urls import path

from pages import views

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("items", views.items_view, name="items"),
    path("healthz", views.healthz_view, name="healthz"),
    path("readyz", views.readyz_view, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
]
