"""Middleware: the request id, and the token session that keeps tokens fresh per request."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import HASH_SESSION_KEY, logout
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare

from accounts.exceptions import ProviderUnavailable
from bff import clock, responses
from bff.conf import bff_settings
from bff.exceptions import SessionEnded
from bff.logging import choose_request_id, request_id_var
from bff.refresh import ensure_fresh
from bff.sessions import SESSION_KEY, check_limits, load_session, touch

# Views that must run even when the session just ended or cannot be refreshed now
# (they sign in or out).
PASS_THROUGH_WHEN_ENDED = ("/auth/login", "/auth/callback/", "/auth/logout", "/auth/backchannel")


def _is_session_user(request: HttpRequest, record) -> bool:
    """The Django session's user is the record's, still active, same auth hash."""
    user = record.user
    return (
        str(request.session.get(AUTH_SESSION_KEY)) == str(record.user_id)
        and user.is_active
        and constant_time_compare(
            request.session.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()
        )
    )


class RequestIDMiddleware:
    """Give every request an id (X-Request-ID kept when well-formed) for logs and errors."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = choose_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class TokenSessionMiddleware:
    """Load the session record, refresh its tokens when due, put it on the request.

    After it, `request.token_session` is the live record (tokens fresh) or None.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.token_session = None
        if request.path_info.startswith(bff_settings.BFF_EXEMPT_PATH_PREFIXES):
            return self.get_response(request)
        record_id = request.session.get(SESSION_KEY)
        if record_id is None:
            return self.get_response(request)
        now = clock.now()
        try:
            record = load_session(record_id)
            check_limits(record, now)
            try:
                record = ensure_fresh(record)
            except ProviderUnavailable as exc:
                # A transient failure never signs anyone out: a still-valid token is used.
                # Signing in or out needs no fresh token, so those go on regardless.
                expired = record.tokens.is_expired(clock.now())
                if expired and not request.path_info.startswith(PASS_THROUGH_WHEN_ENDED):
                    return responses.provider_unavailable(request, exc.retry_after)
        except SessionEnded:
            logout(request)
            if request.path_info.startswith(PASS_THROUGH_WHEN_ENDED):
                return self.get_response(request)
            return responses.session_over(request)
        if not _is_session_user(request, record):
            logout(request)
            return responses.session_over(request)
        touch(record, now)
        request.token_session = record
        # The record came with its user: spare AuthenticationMiddleware its query.
        request._cached_user = record.user
        return self.get_response(request)
