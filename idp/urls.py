"""URLs of the built-in provider: pages at the root, OAuth/OIDC endpoints at the issuer's path."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from oauth2_provider import views as oauth2_views

from idp import par, views

# Only the endpoints this provider offers: no DOT application-management pages (any
# signed-in person could register clients), no device flow, no dynamic registration.
# The names are DOT's, in DOT's namespace, because DOT reverses them (discovery, login).
oauth_patterns = [
    path("authorize/", views.AuthorizeView.as_view(), name="authorize"),
    path("token/", oauth2_views.TokenView.as_view(), name="token"),
    path("par/", par.PushedAuthorizationView.as_view(), name="par"),
    path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("userinfo/", oauth2_views.UserInfoView.as_view(), name="user-info"),
    path("logout/", views.EndSessionView.as_view(), name="rp-initiated-logout"),
    re_path(
        r"^\.well-known/openid-configuration/?$",
        views.DiscoveryView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(".well-known/jwks.json", oauth2_views.JwksInfoView.as_view(), name="jwks-info"),
    path(
        ".well-known/oauth-authorization-server",
        oauth2_views.OAuthServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
]

idp_patterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/register/", views.RegisterView.as_view(), name="register"),
    path("accounts/step-up/", views.step_up_view, name="step_up"),
]

oauth_prefix = f"{settings.IDP_OAUTH_PREFIX}/" if settings.IDP_OAUTH_PREFIX else ""

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("", include((idp_patterns, "idp"))),
    path(oauth_prefix, include((oauth_patterns, "oauth2_provider"))),
]
