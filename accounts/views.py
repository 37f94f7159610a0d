"""Sign-in, sign-out, back-channel logout, and the user's own sessions."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.contrib.auth import authenticate, logout
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import audit, login_state
from accounts.backchannel import end_sessions_for_logout_token
from accounts.backends import UNAVAILABLE, UNKNOWN_STATE, SignInFailed
from accounts.conf import accounts_settings
from accounts.devices import describe
from accounts.models import AuditEvent
from accounts.throttle import log_noise, rate_limited
from bff import sessions
from bff.conf import bff_settings
from bff.decorators import json_api, signs_in_or_out
from bff.redirects import safe_next
from bff.responses import json_error, login_url
from oidc import client, clock
from oidc.conf import ProviderConfig, oidc_settings
from oidc.exceptions import ProviderError, ProviderUnavailable, TokenValidationError
from oidc.provider import Provider, default_provider_name, get_provider

logger = logging.getLogger(__name__)
Kind = AuditEvent.Kind
Reason = sessions.Reason


def public_url(request: HttpRequest, path: str) -> str:
    base = accounts_settings.BFF_PUBLIC_URL
    return base.rstrip("/") + path if base else request.build_absolute_uri(path)


def _provider_or_404(name: str | None) -> Provider:
    try:
        return get_provider(name or default_provider_name())
    except (KeyError, StopIteration) as exc:
        raise Http404("Unknown provider") from exc


def sign_in_failed(request: HttpRequest, failure: SignInFailed, provider: str) -> HttpResponse:
    """The one failure page of sign-in: says what happened, offers to try again."""
    if failure.reason != UNKNOWN_STATE:  # anyone's noise: logged at a bounded rate
        logger.warning("sign-in failed provider=%s reason=%s", provider, failure.reason)
    context = {
        "message": failure.message,
        "reason": failure.reason,
        "retry_url": login_url(failure.next_path),
    }
    return render(request, "accounts/sign_in_error.html", context, status=failure.status)


@login_not_required
@never_cache
@require_GET
@signs_in_or_out
@rate_limited("login")
def login_view(request: HttpRequest) -> HttpResponse:
    next_path = safe_next(request.GET.get("next"))
    if sessions.current(request) is not None:
        return HttpResponseRedirect(next_path)
    configured = oidc_settings.providers()
    if "provider" not in request.GET and len(configured) > 1:
        return _choose_provider(request, configured.values(), next_path)
    provider = _provider_or_404(request.GET.get("provider"))
    redirect_uri = public_url(request, reverse("accounts:callback", args=[provider.name]))
    pending = login_state.PendingSignIn(
        state=client.random_secret(),
        nonce=client.random_secret(),
        verifier=client.random_secret() + client.random_secret(),
        provider=provider.name,
        next=next_path,
        redirect_uri=redirect_uri,
        created_at=clock.now(),
    )
    try:
        url = client.authorization_url(
            provider,
            redirect_uri=redirect_uri,
            state=pending.state,
            nonce=pending.nonce,
            verifier=pending.verifier,
        )
    except ProviderUnavailable:
        failure = SignInFailed(
            "provider_unavailable", status=503, message=UNAVAILABLE, next_path=next_path
        )
    except ProviderError as exc:
        failure = SignInFailed(exc.reason, status=502, next_path=next_path)
    else:
        login_state.remember(request, pending)
        return login_state.write(request, HttpResponseRedirect(url))
    audit.record(Kind.SIGN_IN_FAILED, request, provider=provider.name, reason=failure.reason)
    return sign_in_failed(request, failure, provider.name)


def _choose_provider(
    request: HttpRequest, providers: Iterable[ProviderConfig], next_path: str
) -> HttpResponse:
    """With several providers, the person picks one (plain links: no JavaScript needed)."""
    login = reverse("accounts:login")
    choices = [
        {"label": p.label, "url": f"{login}?{urlencode({'provider': p.name, 'next': next_path})}"}
        for p in providers
    ]
    return render(request, "accounts/choose_provider.html", {"choices": choices})


@login_not_required
@never_cache
@require_GET
@signs_in_or_out
@rate_limited("callback")
def callback_view(request: HttpRequest, provider_name: str) -> HttpResponse:
    provider = _provider_or_404(provider_name)
    user = authenticate(request, provider=provider)
    if user is None:
        failure = getattr(request, "sign_in_failure", None) or SignInFailed("no_user")
        return login_state.write(request, sign_in_failed(request, failure, provider.name))
    sign_in = user.oidc_sign_in
    claims = sign_in.claims
    sessions.start(
        request,
        user=user,
        provider=provider.name,
        issuer=provider.issuer,
        subject=claims["sub"],
        sid=claims.get("sid") if isinstance(claims.get("sid"), str) else "",
        tokens=sign_in.tokens,
    )
    return login_state.write(request, HttpResponseRedirect(sign_in.next))


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
@signs_in_or_out
def logout_view(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation and changes nothing; POST signs out."""
    if request.method == "GET":
        return render(request, "accounts/logout_confirm.html")
    record = sessions.current(request)
    target = safe_next(request.POST.get("next"))
    end_url = None
    if record is not None:
        id_token = record.tokens.id_token
        sessions.end(record, Reason.LOGOUT, request=request)
        try:
            provider = get_provider(record.provider)
        except KeyError:  # no longer configured: signing out locally is all we can do
            provider = None
        if provider is not None:
            end_url = client.end_session_url(
                provider,
                id_token=id_token,
                post_logout_redirect_uri=provider.config.post_logout_redirect_uri
                or public_url(request, "/"),
                state=client.random_secret(),
            )
    logout(request)
    return HttpResponseRedirect(end_url or target)


@login_not_required
@csrf_exempt
@never_cache
@require_POST
@json_api
@signs_in_or_out
@rate_limited("backchannel")
def backchannel_logout_view(request: HttpRequest, provider_name: str) -> HttpResponse:
    """OpenID Connect Back-Channel Logout 1.0: end every matching session on every host."""
    try:
        provider = get_provider(provider_name)
    except KeyError:
        return json_error(400, "invalid_request", "Unknown provider.")
    raw = request.POST.get("logout_token")
    if not raw:
        return json_error(400, "invalid_request", "logout_token is required.")
    try:
        ended = end_sessions_for_logout_token(provider, raw, request)
    except TokenValidationError as exc:
        # Anyone can post here: logged at a bounded rate, never an audit row per request.
        log_noise("backchannel_rejected", "provider=%s reason=%s", provider.name, exc.reason)
        return json_error(400, "invalid_request", f"Invalid logout token: {exc.reason}.")
    except ProviderUnavailable:
        return json_error(503, "temporarily_unavailable", "Provider keys are unreachable.")
    except ProviderError as exc:
        return json_error(400, "invalid_request", f"Provider error: {exc.error}.")
    audit.record(
        Kind.BACKCHANNEL_LOGOUT, request, provider=provider.name, reason=f"sessions={ended}"
    )
    response = HttpResponse(status=200)
    response["Cache-Control"] = "no-store"
    return response


@login_not_required
@never_cache
@require_GET
@json_api
def session_view(request: HttpRequest) -> JsonResponse:
    """The signed-in user's display claims and when the session ends; 401 when signed out."""
    record = sessions.current(request)
    if record is None:
        return json_error(401, "not_signed_in", "No active session.", login_url=login_url("/"))
    user = record.user
    ends_at = record.created_at.timestamp() + bff_settings.BFF_SESSION_MAX_AGE_SECONDS
    idle_at = record.last_seen_at.timestamp() + bff_settings.BFF_SESSION_IDLE_SECONDS
    response = JsonResponse(
        {
            "user": {"name": user.name, "email": user.email, "sub": record.subject},
            "provider": record.provider,
            "issuer": record.issuer,
            "session": {
                "started_at": record.created_at.isoformat(),
                "expires_at": _iso(min(ends_at, idle_at)),
                "absolute_expires_at": _iso(ends_at),
            },
        }
    )
    response["Cache-Control"] = "no-store"
    return response


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


@never_cache
@require_http_methods(["GET", "POST"])
def sessions_view(request: HttpRequest) -> HttpResponse:
    """The user's own live sessions; POST ends one, or every other one."""
    current = sessions.current(request)
    mine = sessions.live_sessions_for(request.user)
    if request.method == "POST":
        if request.POST.get("action") == "end_others":
            targets = list(mine.exclude(pk=current.pk) if current else mine)
        else:
            targets = [get_object_or_404(mine, pk=_uuid_or_404(request.POST.get("session")))]
        for record in targets:
            sessions.end(record, Reason.ENDED_BY_USER, request=request, by=request.user)
        if current is not None and any(r.pk == current.pk for r in targets):
            logout(request)
            return redirect("/")
        return redirect("accounts:sessions")
    rows = [
        {"record": r, "device": describe(r.user_agent), "current": current and r.pk == current.pk}
        for r in mine.order_by("-last_seen_at")
    ]
    return render(request, "accounts/sessions.html", {"sessions": rows})


def _uuid_or_404(value: str | None) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise Http404("No such session") from exc
