from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login", views.login_view, name="login"),
    path("callback/<str:provider_name>", views.callback_view, name="callback"),
    path("logout", views.logout_view, name="logout"),
    path(
        "backchannel-logout/<str:provider_name>",
        views.backchannel_logout_view,
        name="backchannel_logout",
    ),
    path("session", views.session_view, name="session"),
    path("ended", views.session_ended_view, name="session_ended"),
    path("signed-out", views.signed_out_view, name="signed_out"),
    path("sessions", views.sessions_view, name="sessions"),
    path("jwks.json", views.jwks_view, name="jwks"),
]
