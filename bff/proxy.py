"""The /api gateway: a browser's call, forwarded to a named upstream with the session's token.

    /api/graphql          -> the upstream named "graphql", at its URL exactly
    /api/<name>/<path>    -> upstream <name>, at its URL + "/" + <path>

Routing, the path checks and the forwarded URL all come from the raw request target (the
path as the client sent it, still percent-encoded), so what was checked is what the
upstream receives. Bodies stream both ways; the token never leaves the server. What comes
back may not widen what the browser allows on our origin: no CORS or Clear-Site-Data from an
upstream, and a Location only when it points back into the same upstream, as /api/<name>/...
"""

from __future__ import annotations

import logging
import re
import string
import time
from collections.abc import Iterator, Mapping
from typing import Protocol
from urllib.parse import quote, unquote, unquote_plus, urljoin, urlsplit

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from bff.addresses import client_address
from bff.bearer import bearer_for
from bff.decorators import json_api
from bff.exceptions import UpstreamError
from bff.gateway import admit
from bff.live import events
from bff.logging import request_id_var
from bff.responses import HANDLED, error_response, json_error
from bff.step_up import required_by, step_up_response
from bff.transport import SAFE_METHODS, Body, UpstreamResponse, call_with_refresh, exchange
from bff.upstreams import Upstream, upstreams

logger = logging.getLogger(__name__)

GRAPHQL = "graphql"
# Bodies are read and relayed in pieces of at most this size.
CHUNK_BYTES = 1024 * 1024
# An upstream response body up to this size (by its Content-Length) is relayed in one piece.
SMALL_BODY_BYTES = 64 * 1024
# A body up to this size (by its Content-Length) is buffered, so the call can be retried
# after a refresh; a larger or chunked one streams and is never retried.
RETRY_BUFFER_BYTES = 64 * 1024

# RFC 9110 7.6.1, plus the non-standard Proxy-Connection: they describe one connection only.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Request headers that go upstream: content negotiation, conditional requests, caching. All
# others stay here: Cookie, Authorization, Host, X-CSRF, and those an upstream might trust
# to its cost (X-Forwarded-*, Forwarded, X-Original-URL, X-HTTP-Method-Override, ...).
FORWARDED_REQUEST_HEADERS = frozenset(
    {
        "cache-control",
        "content-encoding",
        "content-language",
        "content-type",
        "pragma",
        "range",
        "user-agent",
    }
)
FORWARDED_REQUEST_PREFIXES = ("accept", "if-")
# Content headers describe a body; without one they are dropped (wsgiref invents a
# Content-Type for every request).
BODY_HEADERS = frozenset({"content-encoding", "content-language", "content-type"})
# Cookies are the BFF's alone, and so is the decision to clear the browser's data; the server
# in front of Django writes its own Date and Server. Location is checked and rewritten apart.
DROPPED_RESPONSE_HEADERS = frozenset(
    {"set-cookie", "set-cookie2", "clear-site-data", "date", "server", "location"}
)
# The BFF is same-origin: CORS from an upstream would let other sites read our answers.
DROPPED_RESPONSE_PREFIXES = ("access-control-",)
REDIRECT_STATUSES = range(300, 400)

# RFC 3986 path characters (unreserved, sub-delims, ":", "/" and "%" escapes) except "@".
_PATH_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:/%")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Refused anywhere in the path, as sent or decoded once (which catches %252e and the like).
_FORBIDDEN_SEQUENCES = ("..", "//", "\\", "@", "%2e", "%2f", "%5c")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A query string is passed on as is, so it must be printable ASCII without a fragment.
_BAD_QUERY = re.compile(r"[^\x21-\x7e]|#")
# Absolute-form request targets (RFC 9112 3.2.2) start with a scheme and an authority.
_ABSOLUTE_FORM = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?]*")
# Re-encoding a decoded path keeps RFC 3986 path characters; "%" itself becomes %25.
_REENCODE_SAFE = "/:@!$&'()*+,;=~"
# A query parameter is named by what comes before "=", between "&" or ";" (some servers split
# on both); PHP reads " " and "." in a name as "_", and "name[]" as name.
_QUERY_SEPARATORS = re.compile(r"[&;]")
_NAME_AS_UNDERSCORE = re.compile(r"[ .]")
# A Location relayed at all is printable ASCII without spaces.
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Refused(Exception):
    """The call is refused here with a JSON error; the upstream never hears of it."""

    def __init__(
        self, status: int, error: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = dict(headers or {})


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


# --- The raw request target ---------------------------------------------------------------


def raw_target(request: HttpRequest) -> tuple[str, str]:
    """The request target as the client sent it: (path, query), nothing decoded.

    gunicorn gives RAW_URI; uWSGI, mod_wsgi and Werkzeug REQUEST_URI; ASGI servers the scope's
    raw_path. Servers that give none (Django's runserver and test server, wsgiref) leave only
    the decoded path, which is percent-encoded again here: that cannot tell "%2F" from "/" or
    "%41" from "A", so there "a%2Fb" goes upstream as "a/b". Every other refusal still holds,
    because "..", "\\", "//", "@" and control characters survive decoding.
    """
    meta = request.META
    uri = meta.get("RAW_URI") or meta.get("REQUEST_URI")
    if uri:
        if not uri.startswith("/"):
            rest = _ABSOLUTE_FORM.sub("", uri, count=1)
            uri = rest if rest.startswith("/") else "/" + rest
        path, _, query = uri.partition("?")
        return path, query
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict) and scope.get("raw_path") is not None:
        return scope["raw_path"].decode("latin-1"), scope.get("query_string", b"").decode("latin-1")
    # Django has replaced PATH_INFO (and SCRIPT_NAME) with their UTF-8 decoded text.
    path = meta.get("SCRIPT_NAME", "") + request.path_info
    return quote(path.encode(), safe=_REENCODE_SAFE), meta.get("QUERY_STRING", "")


def unsafe_path_reason(raw_path: str) -> str | None:
    """Why a raw (still percent-encoded) path is refused, or None when it may go upstream."""
    if not set(raw_path) <= _PATH_CHARACTERS:
        return "a character that is not allowed in a URL path"
    if _BAD_ESCAPE.search(raw_path):
        return "a malformed percent escape"
    decoded = unquote(raw_path, encoding="latin-1")
    for form in (raw_path, decoded):
        lowered = form.lower()
        for sequence in _FORBIDDEN_SEQUENCES:
            if sequence in lowered:
                return repr(sequence)
        if _CONTROL.search(form):
            return "a control character"
        if "." in form.split("/"):
            return "a '.' segment"
    return None


def token_in_query(raw_query: str) -> bool:
    """The raw query names access_token however spelled (access%5Ftoken, ACCESS_TOKEN, ...).

    RFC 6750 2.3 lets a client send its token there; a browser behind the BFF has none to
    send, and a token in a URL ends up in logs and Referer headers.
    """
    for part in _QUERY_SEPARATORS.split(raw_query):
        name = part.partition("=")[0]
        # Decoded until it stops changing: an upstream may decode twice (%255F).
        while (decoded := unquote_plus(name, encoding="latin-1")) != name:
            name = decoded
        name = name.strip().lower().partition("[")[0]
        if _NAME_AS_UNDERSCORE.sub("_", name) == "access_token":
            return True
    return False


def resolve(request: HttpRequest, raw_path: str, raw_query: str) -> tuple[Upstream, str]:
    """The upstream for this call and the URL to send it to; Refused when there is none."""
    prefix = reverse("api")  # with the script prefix: /api/, or /app/api/ when mounted there
    if not raw_path.startswith(prefix):
        # The resolver saw /api/ only after decoding (/%61pi/...): not a path we forward.
        raise Refused(400, "unsafe_path", "The path is refused: /api/ is encoded.")
    rest = raw_path[len(prefix) :]
    reason = unsafe_path_reason(rest)
    if reason is not None:
        raise Refused(400, "unsafe_path", f"The path is refused: it contains {reason}.")
    if _BAD_QUERY.search(raw_query):
        raise Refused(400, "unsafe_query", "The query string is refused.")
    if token_in_query(raw_query):
        raise Refused(400, "token_in_query", "A token in the query string is refused.")
    name, slash, path = rest.partition("/")
    upstream = upstreams().get(name)
    # /api/graphql has no sub-paths; every other upstream is addressed as /api/<name>/...
    if upstream is None or (name == GRAPHQL) == bool(slash):
        raise Refused(404, "unknown_upstream", "No API is configured at this path.")
    # Appended to the configured base, never joined: the path cannot climb out of it.
    url = upstream.url + slash + path
    if raw_query:
        url += "?" + raw_query
    return upstream, url


# --- Who may call ---------------------------------------------------------------------------


def check_caller(request: HttpRequest) -> None:
    """Our own pages' scripts only: X-CSRF: 1, and a same-origin proof for unsafe methods.

    An EventSource cannot send X-CSRF: see bff.live.events.may_skip_csrf."""
    if request.headers.get("X-CSRF") != "1" and not events.may_skip_csrf(request):
        raise Refused(403, "csrf_required", "API calls need the header X-CSRF: 1.")
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin != f"{request.scheme}://{request.get_host()}":
            raise Refused(403, "cross_origin", "Calls from other origins are refused.")
    elif request.headers.get("Sec-Fetch-Site") != "same-origin":
        raise Refused(403, "cross_origin", "This method needs an Origin of this site.")


# --- Headers ---------------------------------------------------------------------------------


def connection_tokens(value: str) -> set[str]:
    """The header names a Connection header lists (they are hop-by-hop too)."""
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def forwarded_request_headers(request: HttpRequest, *, has_body: bool) -> dict[str, str]:
    """The headers sent upstream, without the Authorization (added per attempt)."""
    named = connection_tokens(request.headers.get("Connection", ""))
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in named or (lower in BODY_HEADERS and not has_body):
            continue
        if lower in FORWARDED_REQUEST_HEADERS or lower.startswith(FORWARDED_REQUEST_PREFIXES):
            headers[name] = value
    # Replaced, never extended: what a client says of itself is not passed on as a fact.
    headers["X-Forwarded-For"] = client_address(request)
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.get_host()
    headers["X-Request-ID"] = getattr(request, "request_id", None) or request_id_var.get()
    return headers


def relayed_response_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The upstream's response headers that reach the browser."""
    named = connection_tokens(headers.get("Connection", ""))
    return [
        (name, value)
        for name, value in headers.items()
        if (lower := name.lower()) not in HOP_BY_HOP
        and lower not in DROPPED_RESPONSE_HEADERS
        and not lower.startswith(DROPPED_RESPONSE_PREFIXES)
        and lower not in named
    ]


def relayed_location(location: str, upstream: Upstream, url: str) -> str | None:
    """The upstream's Location as the same place under /api/<name>/ on our origin; None when
    it points anywhere else: another origin, outside the upstream's base, a path or query
    the gateway would refuse.

    `url` is what the call was sent to, which a relative Location is resolved against.
    """
    if not _PRINTABLE.fullmatch(location):
        return None
    try:
        target = urlsplit(urljoin(url, location))
        base = urlsplit(upstream.url)
        if (
            target.scheme != base.scheme
            or target.username is not None
            or target.password is not None
            or target.hostname != base.hostname
            or (target.port or _DEFAULT_PORTS.get(target.scheme))
            != (base.port or _DEFAULT_PORTS.get(base.scheme))
        ):
            return None
    except ValueError:  # a port that is not a number
        return None
    prefix = reverse("api")
    if upstream.name == GRAPHQL:
        # /api/graphql is the upstream's URL exactly, with no sub-paths.
        if (target.path or "/") != (base.path or "/"):
            return None
        rewritten = prefix + GRAPHQL
    else:
        if not target.path.startswith(base.path + "/"):
            return None
        rest = target.path[len(base.path) + 1 :]
        if unsafe_path_reason(rest) is not None:
            return None
        rewritten = f"{prefix}{upstream.name}/{rest}"
    if token_in_query(target.query):
        return None
    if target.query:
        rewritten += "?" + target.query
    if target.fragment:
        rewritten += "#" + target.fragment
    return rewritten


# --- Bodies ----------------------------------------------------------------------------------


def read_body(source: Readable, length: int | None, limit: int) -> Iterator[bytes]:
    """The request body as it arrives; refused once past `limit` bytes or cut short."""
    received = 0
    while length is None or received < length:
        size = CHUNK_BYTES if length is None else min(CHUNK_BYTES, length - received)
        try:
            chunk = source.read(size)
        except Exception as exc:  # whatever the server raises for a broken or cut-off body
            raise Refused(400, "bad_body", "The request body could not be read.") from exc
        if not chunk:
            if length is None:
                return
            raise Refused(400, "bad_body", "The request body is shorter than its length.")
        received += len(chunk)
        if received > limit:
            raise Refused(413, "body_too_large", f"The request body is over {limit} bytes.")
        yield chunk


def request_body(request: HttpRequest, limit: int) -> tuple[Body, int | None]:
    """(body, length) to forward; length None means chunked.

    A body within RETRY_BUFFER_BYTES comes back as bytes; a larger one as an iterator that
    reads the request while the upstream receives it.
    """
    meta = request.META
    if meta.get("HTTP_TRANSFER_ENCODING"):
        # A chunked body is only readable where the server de-chunks it (gunicorn does).
        if not meta.get("wsgi.input_terminated"):
            raise Refused(411, "length_required", "Send the body with a Content-Length.")
        return read_body(meta["wsgi.input"], None, limit), None
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0:
        raise Refused(400, "bad_content_length", "The Content-Length is not a number.")
    if length > limit:
        raise Refused(413, "body_too_large", f"The request body is over {limit} bytes.")
    if length == 0:
        return None, 0
    if length <= RETRY_BUFFER_BYTES:
        return b"".join(read_body(request, length, limit)), length
    return read_body(request, length, limit), length


# --- The response ----------------------------------------------------------------------------


def relay_body(upstream_response: UpstreamResponse, name: str, request_id: str) -> Iterator[bytes]:
    """The upstream's body as it arrives, still encoded (a gzip body stays gzip)."""
    raw = upstream_response.raw
    try:
        while chunk := raw.read1(CHUNK_BYTES, decode_content=False):
            yield chunk
    except BaseException:
        # The status has been sent: the connection is cut so the client sees a broken body.
        logger.warning("upstream=%s response body interrupted request_id=%s", name, request_id)
        upstream_response.close()
        raise
    upstream_response.release()


def small_body_length(upstream_response: UpstreamResponse, method: str) -> int | None:
    """The Content-Length of a body small enough to relay in one piece, else None."""
    length = upstream_response.headers.get("Content-Length", "")
    if method == "HEAD" or upstream_response.status_code in (204, 304) or not length.isdigit():
        return None
    return int(length) if int(length) <= SMALL_BODY_BYTES else None


def relay(
    upstream_response: UpstreamResponse, upstream: Upstream, method: str, url: str
) -> HttpResponse:
    """The browser's response: the upstream's status, its relayable headers, its body.

    A redirect elsewhere than into the same upstream is refused (502); on any other status
    such a Location is dropped. A small body with a Content-Length is read whole and sent
    with its length (one write, no chunked framing); any other body streams as it arrives.
    """
    location = upstream_response.headers.get("Location")
    if location is not None:
        location = relayed_location(location, upstream, url)
        if location is None and upstream_response.status_code in REDIRECT_STATUSES:
            upstream_response.close()
            logger.warning(
                "upstream=%s redirect refused status=%s",
                upstream.name,
                upstream_response.status_code,
            )
            raise UpstreamError(
                502, "upstream_redirect_refused", "The upstream API redirected elsewhere."
            )
    if small_body_length(upstream_response, method) is not None:
        content = upstream_response.read_all(decode=False)
        response: HttpResponse = HttpResponse(content, status=upstream_response.status_code)
    else:
        # The body is sent after the middleware has finished, request id context included.
        body = relay_body(upstream_response, upstream.name, request_id_var.get())
        response = StreamingHttpResponse(body, status=upstream_response.status_code)
    del response["Content-Type"]
    for name, value in relayed_response_headers(upstream_response.headers):
        response[name] = value
    if location is not None:
        response["Location"] = location
    return response


# --- The view --------------------------------------------------------------------------------


def forward(request: HttpRequest) -> HttpResponse:
    """Check, route and send the call; raises Refused and the token lifecycle's errors."""
    check_caller(request)
    raw_path, raw_query = raw_target(request)
    upstream, url = resolve(request, raw_path, raw_query)
    method = request.method or "GET"
    if method not in upstream.methods:
        raise Refused(
            405,
            "method_not_allowed",
            f"This API does not take {method}.",
            headers={"Allow": ", ".join(upstream.methods)},
        )
    bearer = bearer_for(request, upstream)
    if (refusal := admit(request, upstream, method, url, bearer[0])) is not None:
        return refusal
    body, length = request_body(request, upstream.max_body_bytes)
    headers = forwarded_request_headers(request, has_body=body is not None)

    def send_with(token: str | None) -> UpstreamResponse:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return exchange(upstream, method, url, {**headers, **auth}, body, length)

    started = time.monotonic()
    upstream_response = call_with_refresh(
        request,
        upstream,
        send_with,
        bearer=bearer,
        replayable=body is None or isinstance(body, bytes),
    )
    # DEBUG: a line per call is the access log's (the front proxy's, or GUNICORN_ACCESSLOG)
    # and the metrics' business; at INFO it cost every call a write under the handler's lock.
    logger.debug(
        "api upstream=%s method=%s status=%s ms=%.1f",
        upstream.name,
        method,
        upstream_response.status_code,
        (time.monotonic() - started) * 1000,
    )
    step_up = required_by(upstream_response.headers, upstream_response.status_code)
    if step_up is not None:
        # RFC 9470: the browser is sent to sign in again; the upstream's 401 goes no further.
        upstream_response.close()
        return step_up_response(step_up)
    if events.is_event_stream(upstream_response):
        headers = relayed_response_headers(upstream_response.headers)
        return events.event_stream_response(
            request, upstream_response, upstream.name, headers, request_id_var.get()
        )
    return relay(upstream_response, upstream, method, url)


@csrf_exempt  # The gateway has its own rule (check_caller): X-CSRF plus same origin.
@login_not_required  # Anonymous calls get 401 JSON, never a redirect to a sign-in page.
@json_api
def proxy_view(request: HttpRequest) -> HttpResponse:
    """Forward one /api call to its upstream and stream the answer back."""
    try:
        return forward(request)
    except Refused as exc:
        logger.info("api refused status=%s error=%s", exc.status, exc.error)
        response = json_error(exc.status, exc.error, exc.message)
        for name, value in exc.headers.items():
            response[name] = value
        return response
    except HANDLED as exc:
        return error_response(request, exc)
