"""The one way the BFF talks to an upstream, for the /api proxy and the server-side client:
the exchange on the upstream's connection pool, the response type, the mapping of
transport failures to UpstreamError, and the retry-after-refresh rule (RFC 6750).
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest
from urllib3 import BaseHTTPResponse, Timeout
from urllib3 import exceptions as urllib3_exceptions
from urllib3.exceptions import NewConnectionError

from bff import metrics, tracing
from bff.bearer import bearer_for, refreshed_bearer
from bff.exceptions import UpstreamError
from bff.upstreams import Upstream, connection_pool, discard_pool

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
IDEMPOTENT_METHODS = SAFE_METHODS | {"PUT", "DELETE"}

Body = bytes | Iterator[bytes] | None


class UpstreamResponse:
    """An upstream's answer, its body not read yet (urllib3 underneath)."""

    def __init__(self, raw: BaseHTTPResponse) -> None:
        self.raw = raw
        self.status_code = raw.status
        self.headers = raw.headers

    def close(self) -> None:
        """Drop the answer unread (a retry): its connection is closed, not reused."""
        self.raw.close()
        self.raw.release_conn()

    def release(self) -> None:
        """The body was read to its end: the connection goes back to the pool."""
        self.raw.release_conn()

    def read_all(self, *, decode: bool) -> bytes:
        """The whole body (decoded from its Content-Encoding when `decode`); 502 when it
        breaks off, 504 when it stalls."""
        try:
            content = self.raw.read(decode_content=decode)
        except urllib3_exceptions.ReadTimeoutError as exc:
            self.close()
            raise UpstreamError(504, "upstream_timeout", "The upstream API timed out.") from exc
        except Exception as exc:  # urllib3's protocol and decoding errors on a cut body
            self.close()
            raise UpstreamError(
                502, "upstream_bad_response", "The upstream body broke off."
            ) from exc
        self.release()
        return content


def framing(
    method: str, url: str, headers: dict[str, str], body: Body, length: int | None
) -> tuple[str, dict[str, str]]:
    """The request target (path and query exactly as given) and headers with the body's
    framing: a Content-Length when the length is known, none for a chunked body."""
    origin = urlsplit(url)
    target = url[len(f"{origin.scheme}://{origin.netloc}") :] or "/"
    headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    if length is not None and (body is not None or method not in SAFE_METHODS):
        headers["Content-Length"] = str(length)
    return target, headers


def _unreachable(upstream: Upstream, exc: BaseException) -> UpstreamError:
    logger.warning("upstream=%s unreachable: %s", upstream.name, type(exc).__name__)
    return UpstreamError(502, "upstream_unreachable", "The upstream API is unreachable.")


def _call_attributes(upstream: Upstream, method: str, *args: Any, **kwargs: Any) -> dict:
    return {"bff.upstream": upstream.name, "http.request.method": method}


@tracing.traced("bff.upstream", _call_attributes, kind="client")
@metrics.observe_upstream_call
def exchange(
    upstream: Upstream,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Body,
    length: int | None,
) -> UpstreamResponse:
    """Send the request to the upstream's pool, the target exactly as given, the body framed
    as it came; no redirects followed, nothing decoded.

    A kept-alive connection the upstream has closed meanwhile fails as soon as it is used.
    An idempotent request with a replayable body is then sent once more on a fresh
    connection (RFC 9112 9.3.1), before anything went back to the browser; other requests
    get the 502. Raises UpstreamError (504 on a timeout, 502 when unreachable).
    """
    target, headers = framing(method, url, headers, body, length)
    tracing.inject(headers)
    retry_stale = method in IDEMPOTENT_METHODS and not isinstance(body, Iterator)
    while True:
        pool = connection_pool(upstream)
        try:
            raw = pool.urlopen(
                method,
                target,
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=Timeout(connect=upstream.connect_timeout, read=upstream.read_timeout),
                preload_content=False,
                decode_content=False,
                release_conn=False,
                chunked=length is None,
            )
        except NewConnectionError as exc:  # before TimeoutError: it subclasses a timeout error
            raise _unreachable(upstream, exc) from exc
        except urllib3_exceptions.TimeoutError as exc:
            logger.warning("upstream=%s timed out: %s", upstream.name, type(exc).__name__)
            raise UpstreamError(504, "upstream_timeout", "The upstream API timed out.") from exc
        except (urllib3_exceptions.HTTPError, OSError) as exc:
            if retry_stale and _stale_connection(exc):
                retry_stale = False
                # Its other idle connections are likely as stale (the upstream restarted,
                # or closed them on its idle timeout): start a fresh pool.
                discard_pool(upstream, pool)
                logger.info(
                    "upstream=%s stale connection, sent again on a fresh one", upstream.name
                )
                continue
            raise _unreachable(upstream, exc) from exc
        return UpstreamResponse(raw)


def _stale_connection(exc: BaseException) -> bool:
    """The error of a connection the other side closed: reset, aborted, or no answer."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(
            seen, ConnectionResetError | BrokenPipeError | http.client.RemoteDisconnected
        ):
            return True
        if isinstance(seen, urllib3_exceptions.ProtocolError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def is_invalid_token(response: Any) -> bool:
    """RFC 6750: a 401 whose WWW-Authenticate names invalid_token (or names nothing)."""
    if response.status_code != 401:
        return False
    challenge = response.headers.get("WWW-Authenticate", "")
    return "invalid_token" in challenge or challenge.strip().lower() == "bearer"


def call_with_refresh(
    request: HttpRequest,
    upstream: Upstream,
    send_with: Callable[[str | None], UpstreamResponse],
    *,
    bearer: tuple[str | None, bool] | None = None,
    replayable: bool = True,
) -> UpstreamResponse:
    """`send_with(token)`; after the user's token was refused as invalid, one forced
    single-flight refresh and one retry. Only a replayable request (no body, or a
    buffered one) is retried; otherwise the 401 stands.

    `bearer` is `bearer_for(request, upstream)` when the caller already has it.
    May raise NotSignedIn, SessionEnded, ProviderUnavailable or UpstreamError.
    """
    token, is_user = bearer or bearer_for(request, upstream)
    response = send_with(token)
    if replayable and is_user and is_invalid_token(response):
        response.close()
        response = send_with(refreshed_bearer(request, token, upstream))
    return response
