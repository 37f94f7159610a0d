"""The server-side upstream client for views and templates.

    data = upstream(request, "graphql").query("{ me { sub } }")
    items = upstream(request, "demo").get("items").json()

Same token kinds, errors and retry rule as the /api proxy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import requests
from django.http import HttpRequest

from bff.bearer import bearer_for, refreshed_bearer
from bff.logging import request_id_var
from bff.upstreams import Upstream, get_upstream, http_session

logger = logging.getLogger(__name__)


class UpstreamError(Exception):
    """An upstream call failed; `status` is what the BFF answers (502, 504, ...)."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def is_invalid_token(response: requests.Response) -> bool:
    """RFC 6750: a 401 whose WWW-Authenticate names invalid_token (or names nothing)."""
    if response.status_code != 401:
        return False
    challenge = response.headers.get("WWW-Authenticate", "")
    return "invalid_token" in challenge or challenge.strip().lower() == "bearer"


def should_retry(response: requests.Response, is_user_token: bool) -> bool:
    """Worth one forced refresh and one retry: the user's token was refused as invalid."""
    return is_user_token and is_invalid_token(response)


def send(
    upstream: Upstream, prepared: requests.PreparedRequest, *, stream: bool = False
) -> requests.Response:
    """One exchange on the upstream's pooled session: its timeouts, no redirects followed.

    Raises UpstreamError (504 on a timeout, 502 when unreachable).
    """
    try:
        return http_session(upstream).send(
            prepared, stream=stream, timeout=upstream.timeout, allow_redirects=False
        )
    except requests.Timeout as exc:
        raise timed_out(upstream, exc) from exc
    except requests.RequestException as exc:
        raise unreachable(upstream, exc) from exc


def timed_out(upstream: Upstream, exc: BaseException) -> UpstreamError:
    logger.warning("upstream=%s timed out: %s", upstream.name, type(exc).__name__)
    return UpstreamError(504, "upstream_timeout", "The upstream API timed out.")


def unreachable(upstream: Upstream, exc: BaseException) -> UpstreamError:
    logger.warning("upstream=%s unreachable: %s", upstream.name, type(exc).__name__)
    return UpstreamError(502, "upstream_unreachable", "The upstream API is unreachable.")


def call_with_refresh(
    request: HttpRequest,
    upstream: Upstream,
    send_with: Callable[[str | None], requests.Response],
    *,
    bearer: tuple[str | None, bool] | None = None,
    replayable: bool = True,
) -> requests.Response:
    """`send_with(token)`; after an invalid_token 401, one forced refresh and one retry.

    `bearer` is `bearer_for(request, upstream)` when the caller already has it. Only a
    replayable request (no body, or a buffered one) is retried; otherwise the 401 stands.
    May raise NotSignedIn, SessionEnded or ProviderUnavailable.
    """
    token, is_user = bearer or bearer_for(request, upstream)
    response = send_with(token)
    if replayable and should_retry(response, is_user):
        response.close()
        response = send_with(refreshed_bearer(request, token))
    return response


class UpstreamClient:
    def __init__(self, request: HttpRequest, upstream: Upstream) -> None:
        self.request = request
        self.upstream = upstream

    def url(self, path: str) -> str:
        return self.upstream.url + ("/" + path.lstrip("/") if path else "")

    def call(self, method: str, path: str = "", **kwargs: Any) -> requests.Response:
        """Send one request; retry once after a forced refresh if the token was refused.

        `kwargs` are those of `requests.Request` (params, json, data, headers, ...), plus
        `stream`.
        """
        stream = kwargs.pop("stream", False)
        return call_with_refresh(
            self.request,
            self.upstream,
            lambda token: self._send(method, path, token, stream, dict(kwargs)),
        )

    def _send(
        self, method: str, path: str, token: str | None, stream: bool, kwargs: dict[str, Any]
    ) -> requests.Response:
        headers = {"X-Request-ID": request_id_var.get(), **kwargs.pop("headers", {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        session = http_session(self.upstream)
        prepared = session.prepare_request(
            requests.Request(method, self.url(path), headers=headers, **kwargs)
        )
        return send(self.upstream, prepared, stream=stream)

    def get(self, path: str = "", **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str = "", **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a GraphQL operation; return `data` or raise UpstreamError."""
        response = self.post("", json={"query": query, "variables": variables or {}})
        if response.status_code == 401:
            raise UpstreamError(401, "upstream_unauthorized", "The upstream API refused the token.")
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamError(502, "upstream_bad_response", "The upstream sent no JSON.") from exc
        if response.status_code >= 400 or body.get("errors"):
            messages = "; ".join(e.get("message", "error") for e in body.get("errors") or [])
            raise UpstreamError(502, "upstream_error", messages or f"HTTP {response.status_code}")
        return body.get("data") or {}


def upstream(request: HttpRequest, name: str) -> UpstreamClient:
    """A client for the upstream called `name` (KeyError when not configured)."""
    return UpstreamClient(request, get_upstream(name))
