"""Which bearer token an upstream call carries: the user's, the app's own, or none.

An upstream's `token` kind decides: `user` (the session's access token, required),
`client` (a client-credentials token, cached until near expiry), `user_or_client`,
`user_or_none`, `none`. Shared by the /api proxy and the server-side client. An upstream
with an `audience` gets the user's token minted for it (bff/upstream_tokens.py) instead.
"""

from __future__ import annotations

import threading
import time

from django.http import HttpRequest

from bff.exceptions import NotSignedIn, SessionEnded
from bff.refresh import ensure_fresh
from bff.upstream_tokens import upstream_token
from bff.upstreams import Upstream
from oidc import client
from oidc.provider import default_provider_name, get_provider

_client_tokens: dict[str, tuple[str, float]] = {}
_client_lock = threading.Lock()
# A cached client token is replaced this long before it expires.
CLIENT_TOKEN_MARGIN = 60.0


def client_credentials_token(provider_name: str | None = None) -> str:
    name = provider_name or default_provider_name()
    cached = _client_tokens.get(name)
    if cached and cached[1] - CLIENT_TOKEN_MARGIN > time.time():
        return cached[0]
    with _client_lock:
        cached = _client_tokens.get(name)
        if cached and cached[1] - CLIENT_TOKEN_MARGIN > time.time():
            return cached[0]
        received = time.time()
        response = client.client_credentials(get_provider(name))
        expires = received + float(response.get("expires_in") or 300)
        _client_tokens[name] = (response["access_token"], expires)
        return response["access_token"]


def bearer_for(request: HttpRequest, upstream: Upstream) -> tuple[str | None, bool]:
    """(token, is_user_token) for a call to `upstream` on behalf of `request`."""
    record = getattr(request, "token_session", None)
    kind = upstream.token
    if kind == "none":
        return None, False
    if record is not None and kind in ("user", "user_or_client", "user_or_none"):
        if upstream.audience is not None:
            return _audience_token(request, record, upstream), True
        return record.tokens.access_token, True
    if kind == "user":
        raise NotSignedIn()
    if kind == "user_or_none":
        return None, False
    return client_credentials_token(), False


def _audience_token(
    request: HttpRequest, record: object, upstream: Upstream, failed_token: str | None = None
) -> str:
    try:
        return upstream_token(record, upstream, failed_token=failed_token)
    except SessionEnded:
        request.token_session = None
        raise


def refreshed_bearer(
    request: HttpRequest, failed_token: str, upstream: Upstream | None = None
) -> str:
    """After an upstream said invalid_token: one forced, single-flight refresh (of the
    upstream's own token when it has an audience)."""
    record = getattr(request, "token_session", None)
    if record is None:
        raise NotSignedIn()
    if upstream is not None and upstream.audience is not None:
        return _audience_token(request, record, upstream, failed_token)
    try:
        record = ensure_fresh(record, force=True, failed_access_token=failed_token)
    except SessionEnded:
        request.token_session = None
        raise
    request.token_session = record
    return record.tokens.access_token
