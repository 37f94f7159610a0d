"""bff 0004 moves browser sessions from django_session to bff_browser_session: a browser
signed in before the upgrade stays signed in, its row naming its token session record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("bff", "0003_upstream_token"),
    ("sessions", "0001_initial"),
    ("accounts", "0001_initial"),
]
AFTER = [("bff", "0004_browser_sessions")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_live_sessions_are_copied_with_their_record():
    old = migrate(BEFORE)
    user = old.get_model("accounts", "User").objects.create(username="a@example.com")
    now = timezone.now()
    record = old.get_model("bff", "TokenSession").objects.create(
        user=user,
        provider="oidc",
        issuer="https://op.example",
        subject="a",
        access_token_encrypted="x",
        access_issued_at=now,
        access_expires_at=now + timedelta(minutes=5),
        last_seen_at=now,
    )
    store = DjangoSessionStore()
    Session = old.get_model("sessions", "Session")
    Session.objects.create(
        session_key="k" * 32,
        session_data=store.encode({"bff_token_session": str(record.pk), "_auth_user_id": "1"}),
        expire_date=now + timedelta(days=1),
    )
    Session.objects.create(
        session_key="e" * 32, session_data=store.encode({}), expire_date=now - timedelta(days=1)
    )
    Session.objects.create(
        session_key="g" * 32, session_data="garbage", expire_date=now + timedelta(days=1)
    )

    new = migrate(AFTER)
    copied = {row.session_key: row for row in new.get_model("bff", "BrowserSession").objects.all()}
    assert set(copied) == {"k" * 32, "g" * 32}  # the expired one is not carried over
    assert copied["k" * 32].token_session_id == record.pk
    assert copied["g" * 32].token_session_id is None
    moved = new.get_model("bff", "TokenSession").objects.get(pk=record.pk)
    assert moved.browser_key == "k" * 32
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())  # back to the latest for the other tests
