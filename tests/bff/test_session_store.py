"""bff.session_store's one query: the session with its record and user, or nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bff.models import BrowserSession
from bff.session_store import SessionStore

pytestmark = pytest.mark.django_db


def stored(key: str, data: dict, *, expires_in: timedelta, record_id=None) -> None:
    BrowserSession.objects.create(
        session_key=key,
        session_data=SessionStore().encode(data),
        expire_date=timezone.now() + expires_in,
        token_session_id=record_id,
    )


def test_a_live_session_naming_no_record_loads_in_one_query():
    stored("a" * 32, {"x": 1}, expires_in=timedelta(hours=1))
    store = SessionStore("a" * 32)
    with CaptureQueriesContext(connection) as queries:
        assert store.load() == {"x": 1}
    assert len(queries) == 1
    assert store.record is None


def test_an_expired_session_is_not_loaded_and_gets_a_new_key():
    stored("b" * 32, {"x": 1}, expires_in=-timedelta(seconds=1))
    store = SessionStore("b" * 32)
    assert store.load() == {}
    assert store.session_key is None


def test_a_session_whose_record_was_purged_loads_without_it():
    # No database constraint: a purged (ended) record leaves the session naming nothing.
    stored("c" * 32, {"y": 2}, expires_in=timedelta(hours=1), record_id=uuid.uuid4())
    store = SessionStore("c" * 32)
    assert store.load() == {"y": 2}
    assert store.record is None


def test_unknown_and_empty_keys_load_nothing():
    assert SessionStore("z" * 32).load() == {}
    assert SessionStore(None).load() == {}
