"""Sign-in, sign-out, back-channel logout, and the user's own sessions."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
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
from bff import step_up as step_up_module
from bff.conf import bff_settings
from bff.decorators import json_api, signs_in_or_out
from bff.exceptions import IdentityMismatch, LockTimeout, SessionEnded, StoreUnavailable
from bff.redirects import safe_next
from bff.responses import ended_url, json_error, login_url
from bff.step_up import StepUp
from oidc import client, clock
from oidc.client_keys import public_jwks
from oidc.conf import ProviderConfig, oidc_settings
from oidc.exceptions import ProviderError, ProviderUnavailable, TokenValidationError
from oidc.provider import Provider, default_provider_name, get_provider

logger = logging.getLogger(__name__)
Kind = AuditEvent.Kind
Reason = sessions.Reason

# Marks a sign-in asked for from the page that said why the last session ended.
AGAIN = "again"
# The `state` sent to the provider's end-session endpoint, checked on the way back.
SIGNED_OUT_STATE_KEY = "accounts_signed_out_state"

# What a person is told when their session was ended by someone or something else.
ENDED_MESSAGES = {
    Reason.ENDED_BY_USER: "Your session was ended from another device.",
    Reason.ENDED_BY_ADMIN: "An administrator ended your session.",
    Reason.BACKCHANNEL: "You were signed out at your sign-in provider.",
    Reason.LOGOUT: "You signed out in another tab or window.",
    Reason.IDLE: "Your session ended after a long time without activity.",
    Reason.MAX_AGE: "Your session reached its maximum length.",
    Reason.REFRESH_REJECTED: "Your sign-in provider ended your session.",
    Reason.IDENTITY_CHANGED: "Your sign-in provider now names a different account.",
    Reason.NO_REFRESH_TOKEN: "Your session expired.",
    Reason.ACCOUNT_DISABLED: "Your account has been deactivated. Ask an administrator.",
    Reason.CREDENTIALS_CHANGED: "Your account's credentials changed.",
    Reason.REPLACED: "You signed in again in this browser.",
}


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
        # A step-up that fell short leaves the session as it was: the way back is the page.
        "retry_label": "Go back" if failure.reason.startswith("step_up:") else "Try again",
    }
    return render(request, "accounts/sign_in_error.html", context, status=failure.status)


@login_not_required
@never_cache
@require_GET
@signs_in_or_out
@rate_limited("login")
def login_view(request: HttpRequest) -> HttpResponse:
    next_path = safe_next(request.GET.get("next"))
    step_up: StepUp | None = None
    if step_up_module.PARAM in request.GET:
        try:
            step_up = step_up_module.from_signed(request.GET[step_up_module.PARAM])
        except step_up_module.InvalidStepUp:
            return step_up_link_invalid(request, next_path)
    current = sessions.current(request)
    if current is not None and step_up is None:
        return HttpResponseRedirect(next_path)
    if sessions.ended_reason(request) and AGAIN not in request.GET:
        # A tab of a browser whose session ended: say why before anything else.
        return HttpResponseRedirect(ended_url(next_path))
    configured = oidc_settings.providers()
    if current is not None:
        # A step-up is a sign-in at the provider the session already has.
        provider = _provider_or_404(current.provider)
    elif "provider" not in request.GET and len(configured) > 1:
        return _choose_provider(request, configured.values(), next_path)
    else:
        provider = _provider_or_404(request.GET.get("provider"))
    if login_state.looping(request):
        log_noise("sign_in_loop", "provider=%s", provider.name)
        return render(
            request, "accounts/sign_in_loop.html", {"retry_url": login_url(next_path)}, status=429
        )
    redirect_uri = public_url(request, reverse("accounts:callback", args=[provider.name]))
    pending = login_state.PendingSignIn(
        state=client.random_secret(),
        nonce=client.random_secret(),
        verifier=client.random_secret() + client.random_secret(),
        provider=provider.name,
        next=next_path,
        redirect_uri=redirect_uri,
        created_at=clock.now(),
        acr_values=step_up.acr_string if step_up else "",
        max_age=step_up.max_age if step_up else None,
    )
    try:
        url = client.authorization_url(
            provider,
            redirect_uri=redirect_uri,
            state=pending.state,
            nonce=pending.nonce,
            verifier=pending.verifier,
            # Ended by someone else: the provider asks again, so a live provider session
            # cannot silently undo the decision.
            reauthenticate=sessions.ended_reason(request) is not None,
            acr_values=pending.acr_values,
            max_age=pending.max_age,
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


def step_up_link_invalid(request: HttpRequest, next_path: str) -> HttpResponse:
    """A step-up link that was altered, forged or has expired: nothing starts."""
    log_noise("step_up_link", "invalid step-up link")
    context = {
        "message": "This sign-in link has expired or is not valid. Go back and try again.",
        "reason": "step_up_link",
        "retry_url": next_path,
        "retry_label": "Go back",
    }
    return render(request, "accounts/sign_in_error.html", context, status=400)


def sign_in_again_url(next_path: str) -> str:
    """Sign in after a session ended: past the page that said why, to the provider."""
    return f"{login_url(next_path)}&{AGAIN}=1"


def _choose_provider(
    request: HttpRequest, providers: Iterable[ProviderConfig], next_path: str
) -> HttpResponse:
    """With several providers, the person picks one (plain links: no JavaScript needed)."""
    login = reverse("accounts:login")
    again = {AGAIN: "1"} if AGAIN in request.GET else {}
    choices = [
        {
            "label": p.label,
            "url": f"{login}?{urlencode({'provider': p.name, 'next': next_path, **again})}",
        }
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
    current = sessions.current(request)
    if sign_in.steps_up and current is not None:
        return login_state.finish(request, _step_up(request, current, sign_in))
    sessions.start(
        request,
        user=user,
        provider=provider.name,
        issuer=provider.issuer,
        subject=claims["sub"],
        sid=claims.get("sid") if isinstance(claims.get("sid"), str) else "",
        tokens=sign_in.tokens,
    )
    return login_state.finish(request, HttpResponseRedirect(sign_in.next))


def _step_up(request: HttpRequest, record: Any, sign_in: Any) -> HttpResponse:
    """The session stays; its tokens become the stronger sign-in's, if it is the same person."""
    claims = sign_in.claims
    acr = claims.get("acr") if isinstance(claims.get("acr"), str) else ""
    try:
        sessions.replace_tokens(
            record,
            sign_in.tokens,
            issuer=sign_in.provider.issuer,
            subject=claims["sub"],
            acr=acr,
            request=request,
        )
    except IdentityMismatch:
        failure = SignInFailed(
            "step_up:other_account",
            status=403,
            message="You signed in as a different account. Your session was left as it was.",
            next_path=sign_in.next,
        )
    except (SessionEnded, LockTimeout, StoreUnavailable) as exc:
        failure = SignInFailed(
            "step_up:not_stored",
            status=503 if isinstance(exc, LockTimeout) else 400,
            message="Your session could not be updated. Sign in again.",
            next_path=sign_in.next,
        )
    else:
        return HttpResponseRedirect(sign_in.next)
    # The new grant is of no use to anyone: best effort, as at sign-out.
    client.revoke(sign_in.provider, sign_in.tokens.refresh_token)
    audit.record(Kind.SIGN_IN_FAILED, request, provider=record.provider, reason=failure.reason)
    return sign_in_failed(request, failure, record.provider)


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
@signs_in_or_out
def logout_view(request: HttpRequest) -> HttpResponse:
    """GET asks for confirmation and changes nothing; POST signs out."""
    if request.method == "GET":
        return render(request, "accounts/logout_confirm.html")
    target = safe_next(request.POST.get("next"), default=reverse("accounts:signed_out"))
    return sign_out(request, sessions.current(request), target)


def sign_out(request: HttpRequest, record: Any, target: str) -> HttpResponse:
    """End this browser's session (revoking its refresh token), sign the browser out, and
    send it to the provider's end-session endpoint, which comes back to our signed-out page
    with the `state` kept here; without that endpoint, straight to `target`."""
    end_url = None
    if record is not None:
        id_token = record.tokens.id_token
        sessions.end(record, Reason.LOGOUT, request=request)
        try:
            provider = get_provider(record.provider)
        except KeyError:  # no longer configured: signing out locally is all we can do
            provider = None
        state = client.random_secret()
        if provider is not None:
            end_url = client.end_session_url(
                provider,
                id_token=id_token,
                post_logout_redirect_uri=provider.config.post_logout_redirect_uri
                or public_url(request, reverse("accounts:signed_out")),
                state=state,
            )
    # Every tab of this browser is now signed out: their next page says so.
    sessions.sign_out_ended(request, Reason.LOGOUT)
    if end_url:
        request.session[SIGNED_OUT_STATE_KEY] = state
    return HttpResponseRedirect(end_url or target)


@login_not_required
@never_cache
@require_GET
@signs_in_or_out
def signed_out_view(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the browser after signing out (post_logout_redirect_uri)."""
    if "state" in request.GET:
        expected = request.session.pop(SIGNED_OUT_STATE_KEY, None)
        if not expected or not constant_time_compare(expected, request.GET["state"]):
            log_noise("signed_out_state", "state does not match")
        # The state is checked here and goes no further: not into the next page's URL.
        return redirect("accounts:signed_out")
    if sessions.current(request) is not None:
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/signed_out.html", {"sign_in_url": sign_in_again_url("/")})


@login_not_required
@never_cache
@require_GET
@signs_in_or_out
def session_ended_view(request: HttpRequest) -> HttpResponse:
    """Tells a person why their session ended (elsewhere, by an admin, ...) and offers to
    sign in again, back to where they were."""
    next_path = safe_next(request.GET.get("next"))
    if sessions.current(request) is not None:
        return HttpResponseRedirect(next_path)
    reason = sessions.ended_reason(request)
    if reason == Reason.LOGOUT:
        return redirect("accounts:signed_out")
    context = {
        "message": ENDED_MESSAGES.get(reason or "", "Your session has ended."),
        "reason": reason,
        "sign_in_url": sign_in_again_url(next_path),
        "can_sign_in": reason != Reason.ACCOUNT_DISABLED,
    }
    return render(request, "accounts/session_ended.html", context)


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
    except (ProviderUnavailable, StoreUnavailable) as exc:
        # Back-Channel Logout 1.0, 2.8: an error answer makes the provider try again later.
        logger.warning("back-channel logout deferred provider=%s: %s", provider.name, exc)
        response = json_error(503, "temporarily_unavailable", "Try again shortly.")
        response["Retry-After"] = "5"
        return response
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
        others = [r for r in targets if current is None or r.pk != current.pk]
        for record in others:
            sessions.end(record, Reason.ENDED_BY_USER, request=request, by=request.user)
        if len(others) < len(targets):  # the current one too: that is signing out
            return sign_out(request, current, reverse("accounts:signed_out"))
        messages.success(
            request,
            f"Ended {len(others)} other session{'s' if len(others) != 1 else ''}."
            if request.POST.get("action") == "end_others"
            else "Session ended. That device is signed out.",
        )
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


@login_not_required
@require_GET
def jwks_view(request: HttpRequest) -> JsonResponse:
    """The public halves of our private_key_jwt client keys, for providers to fetch."""
    configured = [
        (config.client_private_key, config.client_key_id)
        for config in oidc_settings.providers().values()
        if config.client_private_key
    ]
    if not configured:
        raise Http404("No client keys are configured")
    response = JsonResponse(public_jwks(configured))
    response["Cache-Control"] = "public, max-age=300"
    return response
