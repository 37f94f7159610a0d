"""Pages of the provider, and the few DOT views it extends."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import FormView
from oauth2_provider import views as oauth2_views

from idp import acr, par, throttle
from idp.forms import LoginForm, RegistrationForm, StepUpForm


def home(request: HttpRequest) -> HttpResponse:
    """A small page saying what this server is."""
    return render(request, "idp/home.html", {"issuer": settings.IDP_ISSUER})


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness probe: the process serves requests."""
    return HttpResponse("ok", content_type="text/plain")


def safe_next(request: HttpRequest, default: str = "/") -> str:
    """The `next` parameter if it stays on this server, else default."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else default


def throttled(request: HttpRequest, seconds: int) -> HttpResponse:
    """429 with Retry-After, and a page that says when to try again."""
    context = {
        "seconds": seconds,
        "minutes": math.ceil(seconds / 60),
        "retry_at": timezone.now() + timedelta(seconds=seconds),
        "next": safe_next(request, default=""),
    }
    response = render(request, "idp/throttled.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


class LoginView(auth_views.LoginView):
    """Email + password sign-in; `?next=` brings the person back (to /o/authorize/...).

    Failed sign-ins are counted by idp.throttle (through user_login_failed); once an account
    or a client IP has too many, the password is not even checked.
    """

    form_class = LoginForm
    template_name = "idp/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = throttle.retry_after(request, request.POST.get("email"))
        if wait:
            return throttled(request, wait)
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["registered"] = "registered" in self.request.GET
        return context


@method_decorator([sensitive_post_parameters("password"), csrf_protect, never_cache], "dispatch")
class RegisterView(FormView):
    """Create an account, then send the person to sign in and on to `next`.

    A taken email gets the very same answer (and the account is left alone), so the page
    cannot be used to find out who has an account. That is also why nobody is signed in here.
    """

    form_class = RegistrationForm
    template_name = "idp/register.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["next"] = safe_next(self.request, default="")
        return context

    def form_valid(self, form: RegistrationForm) -> HttpResponse:
        form.register()
        query = {"registered": "1"}
        if next_url := safe_next(self.request, default=""):
            query["next"] = next_url
        return redirect(f"{reverse('idp:login')}?{urlencode(query)}")


def add_iss(uri: str, issuer: str) -> str:
    """Set the RFC 9207 `iss` parameter on a redirect to the client (query response mode)."""
    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "iss"]
    query.append(("iss", issuer))
    return urlunsplit(parts._replace(query=urlencode(query)))


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@login_required
def step_up_view(request: HttpRequest) -> HttpResponse:
    """The second step: the signed-in person confirms their password again, and the session
    reaches acr.SECOND_STEP; then on to `next` (the authorization request that asked)."""
    next_url = safe_next(request, default=reverse("idp:home"))
    form = StepUpForm(request.POST or None)
    if request.method == "POST":
        wait = throttle.retry_after(request, request.user.email)
        if wait:
            return throttled(request, wait)
        if form.is_valid():
            # Django's backends: hashers, and user_login_failed for the throttle on failure.
            same = authenticate(
                request, email=request.user.email, password=form.cleaned_data["password"]
            )
            if same is not None and same.pk == request.user.pk:
                request.session.cycle_key()
                acr.mark_authenticated(request, acr.SECOND_STEP)
                return redirect(next_url)
            form.add_error("password", "That is not your password.")
    context = {"form": form, "next": next_url, "email": request.user.email}
    return render(request, "idp/step_up.html", context, status=400 if form.errors else 200)


class AuthorizeView(oauth2_views.AuthorizationView):
    """DOT's authorization endpoint, with our templates and `iss` on error redirects too,
    and the person's authentication as the client asks (`max_age`, `acr_values`)."""

    template_name = "idp/authorize.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        pushed = par.resolve(request)  # RFC 9126: the pushed parameters replace the query
        if isinstance(pushed, HttpResponse):
            return pushed
        if pushed and "login" in pushed.get("prompt", "").split():
            # DOT would carry every parameter through the sign-in page; push them again.
            return redirect_to_login(
                f"{request.path}?{par.without_login_prompt(pushed)}", self.get_login_url()
            )
        # Where a sign-in or step-up comes back to: pushed again when it was pushed.
        back = (
            f"{request.path}?{par.without_login_prompt(pushed)}"
            if pushed
            else request.get_full_path()
        )
        level, auth_time = acr.session_authentication(request)
        max_age = acr.max_age_of(request.GET.get("max_age"))
        if max_age is not None and acr.too_old(
            auth_time, max_age + settings.IDP_MAX_AGE_GRACE_SECONDS
        ):
            # Core 3.1.2.1: authenticate the person again (as prompt=login would).
            return redirect_to_login(back, resolve_url(self.get_login_url()))
        if acr.satisfied_acr(level, request.GET.get("acr_values")) is None:
            return redirect(f"{reverse('idp:step_up')}?{urlencode({'next': back})}")
        return super().get(request, *args, **kwargs)

    def create_authorization_response(
        self, request: HttpRequest, scopes: Any, credentials: dict[str, Any], allow: bool
    ) -> Any:
        # The grant remembers how the person authenticated (IdpValidator stores it).
        level, auth_time = acr.session_authentication(request)
        claimed = acr.satisfied_acr(level, request.GET.get("acr_values")) or level
        credentials = {**credentials, "idp_acr": claimed, "idp_auth_time": auth_time}
        return super().create_authorization_response(request, scopes, credentials, allow)

    def redirect(self, redirect_to: str, application: Any) -> HttpResponse:
        # DOT adds `iss` to successful responses only; RFC 9207 asks for it on error
        # responses as well (login_required, invalid_request, ...), which also pass here.
        return super().redirect(add_iss(redirect_to, settings.IDP_ISSUER), application)


class DiscoveryView(oauth2_views.ConnectDiscoveryInfoView):
    """DOT's OpenID discovery document, completed with what this provider supports."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        token_endpoint_auth = settings.OAUTH2_PROVIDER["OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED"]
        data.update(
            {
                "revocation_endpoint": self._get_endpoint_url(request, "revoke-token"),
                "revocation_endpoint_auth_methods_supported": token_endpoint_auth,
                "grant_types_supported": settings.OAUTH2_PROVIDER["OAUTH2_GRANT_TYPES_SUPPORTED"],
                "response_modes_supported": ["query"],
                "code_challenge_methods_supported": ["S256"],
                # Every client of this provider signs ID tokens with the provider's RSA key.
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": sorted({*data.get("claims_supported", []), "acr", "auth_time"}),
                "acr_values_supported": list(acr.LEVELS),
                "pushed_authorization_request_endpoint": self._get_endpoint_url(request, "par"),
                "require_pushed_authorization_requests": settings.IDP_REQUIRE_PAR,
            }
        )
        result = JsonResponse(data)
        result["Access-Control-Allow-Origin"] = "*"  # public metadata, as DOT serves it
        return result


class EndSessionView(oauth2_views.RPInitiatedLogoutView):
    """DOT's RP-initiated logout endpoint with our templates."""

    template_name = "idp/logout_confirm.html"
