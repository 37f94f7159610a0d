"""The server-side upstream client for views and templates.

    data = upstream(request, "graphql").query("{ me { sub } }")
    items = upstream(request, "demo").get("items", params={"page": 2}).json()

Same transport, token kinds, errors and retry rule as the /api proxy (bff.transport).
"""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from urllib3 import HTTPHeaderDict

from bff.exceptions import UpstreamError
from bff.logging import request_id_var
from bff.transport import UpstreamResponse, call_with_refresh, exchange
from bff.upstreams import Upstream, get_upstream


@dataclass(frozen=True)
class UpstreamReply:
    """An upstream's whole answer, its body decoded from its Content-Encoding."""

    status_code: int
    headers: HTTPHeaderDict
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class UpstreamClient:
    def __init__(self, request: HttpRequest, upstream: Upstream) -> None:
        self.request = request
        self.upstream = upstream

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        url = self.upstream.url + ("/" + path.lstrip("/") if path else "")
        return url + ("?" + urlencode(params, doseq=True) if params else "")

    def call(
        self,
        method: str,
        path: str = "",
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: bytes | str | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> UpstreamReply:
        """Send one request; retry once after a forced refresh if the token was refused.

        Raises UpstreamError (502, 504), NotSignedIn, SessionEnded, ProviderUnavailable.
        """
        sent = {"X-Request-ID": request_id_var.get(), **(headers or {})}
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            sent.setdefault("Content-Type", "application/json")
        elif isinstance(data, dict):
            body = urlencode(data, doseq=True).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif data is not None:
            body = data.encode() if isinstance(data, str) else data
        url = self.url(path, params)
        method = method.upper()

        def send_with(token: str | None) -> UpstreamResponse:
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            length = len(body) if body is not None else 0
            return exchange(self.upstream, method, url, {**sent, **auth}, body, length)

        response = call_with_refresh(self.request, self.upstream, send_with)
        content = response.read_all(decode=True)
        return UpstreamReply(response.status_code, response.headers, content)

    def get(self, path: str = "", **kwargs: Any) -> UpstreamReply:
        return self.call("GET", path, **kwargs)

    def post(self, path: str = "", **kwargs: Any) -> UpstreamReply:
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
        if not isinstance(body, dict):
            raise UpstreamError(502, "upstream_bad_response", "The upstream sent no JSON object.")
        if response.status_code >= 400 or body.get("errors"):
            errors = body.get("errors") if isinstance(body.get("errors"), list) else []
            messages = "; ".join(
                str(e.get("message", "error")) if isinstance(e, dict) else "error" for e in errors
            )
            raise UpstreamError(502, "upstream_error", messages or f"HTTP {response.status_code}")
        return body.get("data") or {}


def upstream(request: HttpRequest, name: str) -> UpstreamClient:
    """A client for the upstream called `name` (KeyError when not configured)."""
    return UpstreamClient(request, get_upstream(name))
