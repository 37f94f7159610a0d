"""The server-side upstream client for views and templates.

    data = upstream(request, "graphql").query("{ me { sub } }")
    items = upstream(request, "demo").get("items").json()

Same token kinds, errors and retry rule as the /api proxy.
"""

from __future__ import annotations

import logging
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


class UpstreamClient:
    def __init__(self, request: HttpRequest, upstream: Upstream) -> None:
        self.request = request
        self.upstream = upstream

    def url(self, path: str) -> str:
        return self.upstream.url + ("/" + path.lstrip("/") if path else "")

    def call(self, method: str, path: str = "", **kwargs: Any) -> requests.Response:
        """Send one request; retry once after a forced refresh if the token was refused."""
        token, is_user = bearer_for(self.request, self.upstream)
        response = self._send(method, path, token, **kwargs)
        if is_user and is_invalid_token(response):
            response.close()
            response = self._send(method, path, refreshed_bearer(self.request, token), **kwargs)
        return response

    def _send(self, method: str, path: str, token: str | None, **kwargs: Any) -> requests.Response:
        headers = {"X-Request-ID": request_id_var.get(), **kwargs.pop("headers", {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return http_session(self.upstream).request(
                method,
                self.url(path),
                headers=headers,
                timeout=self.upstream.timeout,
                allow_redirects=False,
                **kwargs,
            )
        except requests.Timeout as exc:
            raise UpstreamError(504, "upstream_timeout", "The upstream API timed out.") from exc
        except requests.RequestException as exc:
            logger.warning("upstream=%s unreachable: %s", self.upstream.name, type(exc).__name__)
            raise UpstreamError(
                502, "upstream_unreachable", "The upstream API is unreachable."
            ) from exc

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
