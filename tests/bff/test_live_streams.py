"""The open streams of a process: their limits, and which of their sessions have ended."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model

from bff.live import streams
from bff.models import TokenSession
from bff.sessions import end_sessions, ended_among
from tests.bff.test_purge_sessions import record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user():
    return get_user_model().objects.create(username="live-user", email="live@example.com")


@pytest.fixture
def opened():
    made: list[streams.Stream] = []
    yield made
    for stream in made:
        streams.close_stream(stream)


def open_one(opened, record, kind=streams.WEBSOCKET):
    stream = streams.open_stream(record, "token", kind, lambda reason: None)
    opened.append(stream)
    return stream


def test_streams_are_limited_per_session_and_per_process(user, opened, settings):
    settings.BFF_LIVE_MAX_STREAMS_PER_SESSION = 2
    settings.BFF_LIVE_MAX_STREAMS_PER_PROCESS = 4
    settings.BFF_LIVE_MAX_EVENT_STREAMS_PER_PROCESS = 1
    first, second = record(user), record(user)
    open_one(opened, first)
    open_one(opened, first)
    with pytest.raises(streams.TooManyStreams) as refused:
        open_one(opened, first)
    assert refused.value.per == "session"
    open_one(opened, second, streams.EVENTS)
    with pytest.raises(streams.TooManyStreams) as refused:
        open_one(opened, second, streams.EVENTS)
    assert refused.value.per == "process"
    open_one(opened, None)  # a stream without a session counts for the process only
    with pytest.raises(streams.TooManyStreams) as refused:
        open_one(opened, second)
    assert refused.value.per == "process"
    streams.close_stream(opened.pop())
    open_one(opened, second)


def test_ended_among_names_the_ended_and_the_unknown(user):
    live, ended = record(user), record(user)
    end_sessions(TokenSession.objects.filter(pk=ended.pk), TokenSession.EndReason.ENDED_BY_ADMIN)
    unknown = str(uuid.uuid4())
    ids = [str(live.pk), str(ended.pk), unknown]
    # With a shared cache, from its ended marks (a record it never heard of is not one).
    assert ended_among(ids).items() >= {str(ended.pk): "ended_by_admin"}.items()
    assert str(live.pk) not in ended_among(ids)
    found = ended_among(ids, database=True)
    assert found == {str(ended.pk): "ended_by_admin", unknown: "unknown"}


def test_the_watcher_stops_the_streams_of_a_session_ended_elsewhere(user, opened, settings):
    """Ended in the database only (no signal here, no mark in the cache): the watcher's
    database pass (once per BFF_RECORD_CACHE_SECONDS, here every pass) finds it."""
    settings.BFF_RECORD_CACHE_SECONDS = 0
    live, ended = record(user), record(user)
    stopped: list[tuple[str, str]] = []
    for each in (live, ended):
        stream = streams.open_stream(
            each,
            "token",
            streams.WEBSOCKET,
            lambda reason, pk=each.pk: stopped.append((pk, reason)),
        )
        opened.append(stream)
    TokenSession.objects.filter(pk=ended.pk).update(ended_at=ended.created_at, end_reason="logout")
    streams.check_once(live.created_at.timestamp())
    assert stopped == [(ended.pk, streams.Stop.SESSION_ENDED)]
