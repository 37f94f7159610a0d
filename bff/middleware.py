"""Middleware: request metrics, the request id, and the token session that keeps tokens fresh
per request."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from bff import metrics, responses, tracing
from bff.conf import bff_settings
from bff.decorators import marked
from bff.exceptions import SessionEnded
from bff.logging import choose_request_id, request_id_var
from bff.refresh import ensure_fresh
from bff.sessions import (
    SESSION_KEY,
    Reason,
    check_limits,
    end,
    is_session_user,
    load_session,
    sign_out_ended,
    touch,
)
from bff.stores import database_store
from oidc import clock
from oidc.exceptions import ProviderUnavailable


class RequestMetricsMiddleware:
    """Count and time every request (bff.metrics), inside its trace span (bff.tracing).

    First in MIDDLEWARE, so what the others answer (redirects, refusals) is counted too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        with tracing.request_span(request) as span:
            response = self.get_response(request)
            route = metrics.request_done(request, response.status_code, started)
            tracing.end_request_span(span, request, route, response.status_code)
        return response


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

    Before the view runs, `request.token_session` is the live record (tokens fresh) or None.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.token_session = None
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if request.path_info.startswith(bff_settings.BFF_EXEMPT_PATH_PREFIXES):
            return None
        record_id = request.session.get(SESSION_KEY)
        if record_id is None:
            return None
        # Views that sign in or out run even when the session just ended or cannot be
        # refreshed now.
        signs_in_or_out = marked(view, "bff_signs_in_or_out")
        now = clock.now()
        try:
            record = load_session(record_id, getattr(request.session, "record", None))
            check_limits(record, now, request)
            try:
                record = ensure_fresh(record)
            except ProviderUnavailable as exc:
                # A transient failure never signs anyone out: a still-valid token is used.
                if record.tokens.is_expired(clock.now()) and not signs_in_or_out:
                    return responses.provider_unavailable(request, exc.retry_after)
            except DatabaseError as exc:
                # Nor does a database that cannot take the refresh now: a still-valid token
                # is used; an expired one cannot be, and handler500 answers 503.
                database_store.failed("refresh", exc)
                if record.tokens.is_expired(clock.now()) and not signs_in_or_out:
                    raise
            if not is_session_user(request.session, record):
                # Deactivated, or the account's credentials changed: the record ends here,
                # in the same step, and its refresh token is revoked.
                reason = Reason.CREDENTIALS_CHANGED if record.user.is_active else None
                end(record, reason or Reason.ACCOUNT_DISABLED, request=request)
                raise SessionEnded(reason or Reason.ACCOUNT_DISABLED)
        except SessionEnded as exc:
            sign_out_ended(request, exc.reason)
            return None if signs_in_or_out else responses.session_over(request, exc.reason)
        touch(record, now)
        request.token_session = record
        # The record came with its user: spare AuthenticationMiddleware its query.
        request._cached_user = record.user
        return None
