from django.urls import include, path, re_path

from bench.incumbent_site import views

urlpatterns = [
    path("oidc/", include("mozilla_django_oidc.urls")),
    re_path(r"^api/bench/(?P<path>.*)$", views.APIProxyView.as_view()),
    path("healthz", views.healthz_view),
]
