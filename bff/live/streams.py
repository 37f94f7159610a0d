"""The open streams of this process: their limits, and the watcher that stops them.

A stream (an event stream relayed under WSGI, a WebSocket under ASGI) is opened with the
session record and the access token it carries upstream. It is stopped, with a reason, when:

- its session ends: at once in this process (the session_ended signal, after the commit),
  and within BFF_LIVE_CHECK_SECONDS in any other (the watcher asks sessions.ended_among for
  every open stream's record at once: one cache round trip or one query per check);
- its access token is due (the same rule as for a request): the watcher refreshes it through
  the single-flight coordinator, once per session whatever its number of streams, and stops
  the streams that carry the old token with TOKEN_RENEWED, so that they reconnect with the
  new one; when it cannot be refreshed and has expired, with TOKEN_UNAVAILABLE.

The watcher never touches last_seen: an open stream does not keep an idle session alive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db import DatabaseError, close_old_connections, connections, transaction
from django.dispatch import receiver

from bff.conf import bff_settings
from bff.exceptions import SessionEnded
from bff.models import TokenSession
from bff.refresh import ensure_fresh, needs_refresh
from bff.sessions import check_limits, ended_among, load_session
from bff.signals import EndedSession, session_ended
from oidc import clock
from oidc.exceptions import ProviderError, ProviderUnavailable

logger = logging.getLogger(__name__)

EVENTS = "events"
WEBSOCKET = "websocket"


class Stop(StrEnum):
    """Why a stream was stopped (also what the browser is told)."""

    SESSION_ENDED = "session_ended"
    # The token was refreshed: reconnect, the upstream gets the new one.
    TOKEN_RENEWED = "token_renewed"
    # The token has expired and could not be refreshed now: try again later.
    TOKEN_UNAVAILABLE = "token_unavailable"
    # The server is shutting down: reconnect.
    SHUTDOWN = "shutdown"


class TooManyStreams(Exception):
    """A new stream would pass a limit: `per` is "session" or "process"."""

    def __init__(self, per: str) -> None:
        super().__init__(f"too many open streams per {per}")
        self.per = per


@dataclass(eq=False)
class Stream:
    """One open stream: the record and token it was opened with, how to stop it."""

    record: TokenSession | None
    token: str | None
    kind: str
    on_stop: Callable[[Stop], None]
    stopped: Stop | None = None

    @property
    def record_id(self) -> str | None:
        return str(self.record.pk) if self.record is not None else None

    def stop(self, reason: Stop) -> None:
        """Stop it once (from any thread); on_stop must not block."""
        if self.stopped is None:
            self.stopped = reason
            logger.info("stream stopped kind=%s reason=%s", self.kind, reason)
            try:
                self.on_stop(reason)
            except Exception:  # the stream is already gone
                logger.debug("stream stop failed", exc_info=True)


_lock = threading.Lock()
_streams: set[Stream] = set()
_watcher: threading.Thread | None = None
_wake = threading.Event()
_database_checked = 0.0


def open_stream(
    record: TokenSession | None, token: str | None, kind: str, on_stop: Callable[[Stop], None]
) -> Stream:
    """Register a stream; TooManyStreams when a limit is reached. close_stream() it after."""
    global _watcher
    stream = Stream(record=record, token=token, kind=kind, on_stop=on_stop)
    with _lock:
        if len(_streams) >= bff_settings.BFF_LIVE_MAX_STREAMS_PER_PROCESS:
            raise TooManyStreams("process")
        if kind == EVENTS and sum(s.kind == EVENTS for s in _streams) >= (
            bff_settings.BFF_LIVE_MAX_EVENT_STREAMS_PER_PROCESS
        ):
            raise TooManyStreams("process")
        if stream.record_id is not None and sum(
            s.record_id == stream.record_id for s in _streams
        ) >= (bff_settings.BFF_LIVE_MAX_STREAMS_PER_SESSION):
            raise TooManyStreams("session")
        _streams.add(stream)
        if stream.record is not None and _watcher is None:
            _watcher = threading.Thread(target=_watch, name="bff-live-watcher", daemon=True)
            _watcher.start()
    return stream


def close_stream(stream: Stream) -> None:
    with _lock:
        _streams.discard(stream)


def open_counts() -> Counter[str]:
    """Open streams of this process by kind."""
    with _lock:
        return Counter(s.kind for s in _streams)


def _watched() -> list[Stream]:
    with _lock:
        return [s for s in _streams if s.record is not None and s.stopped is None]


def stop_sessions(record_ids: list[str], reason: Stop) -> None:
    """Stop every open stream of these records."""
    wanted = set(record_ids)
    for stream in _watched():
        if stream.record_id in wanted:
            stream.stop(reason)


def stop_all(reason: Stop = Stop.SHUTDOWN) -> None:
    with _lock:
        streams = list(_streams)
    for stream in streams:
        stream.stop(reason)


@receiver(session_ended, dispatch_uid="bff.live.stop_streams")
def stop_streams_of_ended_sessions(
    sender: Any, sessions: list[EndedSession], **kwargs: Any
) -> None:
    """In this process at once, once the end has committed."""
    ids = [session.id for session in sessions]
    transaction.on_commit(lambda: stop_sessions(ids, Stop.SESSION_ENDED))


def _over_locally(record: TokenSession, now: float) -> bool:
    """Its token is due or a limit may have passed (by the copy the stream holds)."""
    return (
        needs_refresh(record.tokens, now, bff_settings.BFF_REFRESH_BUFFER_SECONDS)
        or now - record.last_seen_at.timestamp() > bff_settings.BFF_SESSION_IDLE_SECONDS
        or now - record.created_at.timestamp() > bff_settings.BFF_SESSION_MAX_AGE_SECONDS
    )


def check_once(now: float) -> None:
    """One pass of the watcher over every open stream of this process.

    The shared cache's ended marks answer most passes; the database does once per
    BFF_RECORD_CACHE_SECONDS, for an end whose mark the cache did not take (the same bound as
    a cached record's)."""
    global _database_checked
    streams = _watched()
    if not streams:
        return
    ids = sorted({s.record_id for s in streams if s.record_id})
    database = time.monotonic() - _database_checked >= bff_settings.BFF_RECORD_CACHE_SECONDS
    if database:
        _database_checked = time.monotonic()
    ended = ended_among(ids, database=database)
    due: dict[str, list[Stream]] = {}
    for stream in streams:
        if stream.record_id in ended:
            stream.stop(Stop.SESSION_ENDED)
        elif _over_locally(stream.record, now):
            due.setdefault(stream.record_id, []).append(stream)
    for record_id, group in due.items():
        _renew(record_id, group, now)


def _renew(record_id: str, group: list[Stream], now: float) -> None:
    try:
        record = load_session(record_id)
        check_limits(record, now)
        record = ensure_fresh(record)
    except SessionEnded:
        for stream in group:
            stream.stop(Stop.SESSION_ENDED)
        return
    except (ProviderUnavailable, ProviderError, DatabaseError) as exc:
        # A transient failure: the token in use is good until it expires; tried again next pass
        # (the refresh backs off by itself).
        logger.info("stream token not renewed now: %s", type(exc).__name__)
        for stream in group:
            if stream.record.tokens.is_expired(now):
                stream.stop(Stop.TOKEN_UNAVAILABLE)
        return
    for stream in group:
        if record.tokens.access_token != stream.token:
            stream.stop(Stop.TOKEN_RENEWED)
        else:
            stream.record = record


def _watch() -> None:
    global _watcher
    try:
        while True:
            with _lock:
                if not any(s.record is not None for s in _streams):
                    _watcher = None
                    return
            try:
                close_old_connections()
                check_once(clock.now())
            except Exception:  # the watcher must outlive any one failure
                logger.exception("stream watcher pass failed")
            _wake.wait(bff_settings.BFF_LIVE_CHECK_SECONDS)
    finally:
        try:
            connections.close_all()
        except Exception:  # noqa: S110 - nothing left to close
            pass
