"""Sign-in, sign-out, back-channel logout, and the user's own sessions."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime

from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import audit, client, login_state
from accounts.backchannel import end_sessions_for_logout_token
from accounts.conf import accounts_settings
from accounts.devices import describe
from accounts.exceptions import ProviderError, ProviderUnavailable, TokenValidationError
from accounts.identities import user_for_identity
from accounts.models import AuditEvent
from accounts.provider import Provider, default_provider_name, get_provider
from accounts.redirects import safe_next
from accounts.validation import validate_id_token
from bff import clock
from bff.conf import bff_settings
from bff.models import TokenSession
from bff.responses import json_error, login_url
from bff.sessions import create_session, end_session_and_revoke, live_sessions_for
from bff.tokens import token_set_from_response

logger = logging.getLogger(__name__)
Kind = AuditEvent.Kind

# RFC 6749 4.1.2.1: an error code is printable ASCII but double quote and backslash; the rest
# (a newline that would forge a log line, for one) is dropped before it is logged.
_NOT_AN_ERROR_CODE_CHAR = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def public_url(request: HttpRequest, path: str) -> str:
    base = accounts_settings.BFF_PUBLIC_URL
    return base.rstrip("/") + path if base else request.build_absolute_uri(path)


def _provider_or_404(name: str | None) -> Provider:
    try:
        return get_provider(name or default_provider_name())
    except (KeyError, StopIteration) as exc:
        raise Http404("Unknown provider") from exc


def sign_in_failed(
    request: HttpRequest,
    reason: str,
    *,
    provider: str = "",
    next_path: str = "/",
    status: int = 400,
    message: str = "We could not sign you in.",
) -> HttpResponse:
    """The one failure page of sign-in: says what happened, offers to try again."""
    audit.record(Kind.SIGN_IN_FAILED, request, provider=provider, reason=reason)
    logger.warning("sign-in failed provider=%s reason=%s", provider, reason)
    context = {"message": message, "reason": reason, "retry_url": login_url(next_path)}
    return render(request, "accounts/sign_in_error.html", context, status=status)


@login_not_required
@never_cache
@require_GET
def login_view(request: HttpRequest) -> HttpResponse:
    next_path = safe_next(request.GET.get("next"))
    provider = _provider_or_404(request.GET.get("provider"))
    if getattr(request, "token_session", None) is not None:
        return HttpResponseRedirect(next_path)
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
        return sign_in_failed(
            request,
            "provider_unavailable",
            provider=provider.name,
            next_path=next_path,
            status=503,
            message="The sign-in provider is unavailable. Try again in a moment.",
        )
    except ProviderError as exc:
        return sign_in_failed(
            request, exc.error, provider=provider.name, next_path=next_path, status=502
        )
    login_state.remember(request.session, pending)
    return HttpResponseRedirect(url)


@login_not_required
@never_cache
@require_GET
def callback_view(request: HttpRequest, provider_name: str) -> HttpResponse:
    provider = _provider_or_404(provider_name)
    pending = login_state.pop(request.session, request.GET.get("state"))
    if pending is None or pending.provider != provider.name:
        return sign_in_failed(
            request,
            "unknown_state",
            provider=provider.name,
            message="This sign-in link has expired or was already used.",
        )
    fail = {"provider": provider.name, "next_path": pending.next}
    if "error" in request.GET:
        error = _NOT_AN_ERROR_CODE_CHAR.sub("", request.GET.get("error", ""))[:64]
        message = (
            "Sign-in was cancelled."
            if error == "access_denied"
            else "The provider refused sign-in."
        )
        return sign_in_failed(request, f"provider_error:{error}", message=message, **fail)
    try:
        metadata = provider.metadata()
        iss = request.GET.get("iss")
        if iss is not None and iss != provider.issuer:
            return sign_in_failed(request, "iss_mismatch", **fail)
        if iss is None and metadata.get("authorization_response_iss_parameter_supported") is True:
            return sign_in_failed(request, "iss_missing", **fail)
        code = request.GET.get("code")
        if not code:
            return sign_in_failed(request, "code_missing", **fail)
        received_at = clock.now()
        response = client.exchange_code(
            provider, code=code, verifier=pending.verifier, redirect_uri=pending.redirect_uri
        )
        claims = validate_id_token(
            response["id_token"], provider, now=clock.now(), nonce=pending.nonce
        )
        if provider.config.use_userinfo:
            info = client.userinfo(provider, response["access_token"])
            if info is not None:
                # Core 5.3.2: UserInfo must name the same sub, or it describes someone else.
                if info.get("sub") != claims["sub"]:
                    return sign_in_failed(request, "userinfo_sub_mismatch", **fail)
                claims = {**info, **claims}
    except TokenValidationError as exc:
        return sign_in_failed(request, f"id_token:{exc.reason}", **fail)
    except ProviderUnavailable:
        return sign_in_failed(
            request,
            "provider_unavailable",
            status=503,
            message="The sign-in provider is unavailable. Try again in a moment.",
            **fail,
        )
    except ProviderError as exc:
        return sign_in_failed(request, f"token_endpoint:{exc.error}", status=502, **fail)

    user = user_for_identity(provider.issuer, provider.name, claims)
    previous = request.session.get("bff_token_session")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if previous:
        replaced = TokenSession.objects.live().filter(pk=previous).first()
        if replaced is not None:
            end_session_and_revoke(replaced, TokenSession.EndReason.REPLACED)
    create_session(
        request,
        user=user,
        provider=provider.name,
        issuer=provider.issuer,
        subject=claims["sub"],
        sid=claims.get("sid") if isinstance(claims.get("sid"), str) else "",
        tokens=token_set_from_response(response, received_at),
    )
    audit.record(Kind.SIGN_IN, request, user=user, provider=provider.name)
    return HttpResponseRedirect(pending.next)


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation and changes nothing; POST signs out."""
    if request.method == "GET":
        return render(request, "accounts/logout_confirm.html")
    record: TokenSession | None = getattr(request, "token_session", None)
    user = request.user if request.user.is_authenticated else None
    target = safe_next(request.POST.get("next"))
    end_url = None
    if record is not None:
        id_token = record.tokens.id_token
        end_session_and_revoke(record, TokenSession.EndReason.LOGOUT)
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
    audit.record(Kind.SIGN_OUT, request, user=user, provider=record.provider if record else "")
    return HttpResponseRedirect(end_url or target)


@login_not_required
@csrf_exempt
@never_cache
@require_POST
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
        ended = end_sessions_for_logout_token(provider, raw)
    except TokenValidationError as exc:
        audit.record(Kind.BACKCHANNEL_REJECTED, request, provider=provider.name, reason=exc.reason)
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
def session_view(request: HttpRequest) -> JsonResponse:
    """The signed-in user's display claims and when the session ends; 401 when signed out."""
    record: TokenSession | None = getattr(request, "token_session", None)
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
    current: TokenSession | None = getattr(request, "token_session", None)
    mine = live_sessions_for(request.user)
    if request.method == "POST":
        if request.POST.get("action") == "end_others":
            targets = list(mine.exclude(pk=current.pk) if current else mine)
        else:
            targets = [get_object_or_404(mine, pk=_uuid_or_404(request.POST.get("session")))]
        for record in targets:
            end_session_and_revoke(record, TokenSession.EndReason.ENDED_BY_USER)
            audit.record(
                Kind.SESSION_ENDED_BY_USER, request, user=request.user, provider=record.provider
            )
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
