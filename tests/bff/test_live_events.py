"""Server-sent events through /api/<upstream>/...: relayed event by event, never cut by our
own read timeout while the upstream sends, stopped when the session ends."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.test import Client

from accounts.models import User
from bff.live import streams
from bff.live.events import CLOSED_EVENT
from bff.models import TokenSession
from bff.sessions import end_sessions
from bff.signals import session_ended
from tests.bff.live_fixtures import field, read_events
from tests.conftest import sign_in
from tests.support.servers import Server

pytestmark = pytest.mark.django_db(transaction=True)

EVENT_HEADERS = {"Accept": "text/event-stream"}


@pytest.fixture
def signed_in(lenient, live_server, live_upstream, browser, settings):
    settings.BFF_UPSTREAMS = {"live": live_upstream.url}
    assert sign_in(browser, live_server.url).status_code == 302
    return browser


def open_events(browser, live_server, path: str, **headers) -> requests.Response:
    response = browser.get(
        f"{live_server.url}/api/live/{path}",
        headers={**EVENT_HEADERS, **headers},
        stream=True,
        timeout=10,
    )
    return response


GUNICORN_SETTINGS = """
from tests.settings import *  # noqa: F403

BFF_UPSTREAMS = {{"live": {{"url": "{url}", "token": "none"}}}}
"""


@pytest.fixture(scope="module")
def gunicorn_bff(live_upstream, tmp_path_factory) -> Iterator[str]:
    """The BFF under gunicorn gthread as deployed, an upstream that needs no token."""
    workdir: Path = tmp_path_factory.mktemp("live-gunicorn")
    (workdir / "live_gunicorn_settings.py").write_text(
        GUNICORN_SETTINGS.format(url=live_upstream.url)
    )
    server = Server(
        name="bff-live",
        settings_module="config.settings",
        workdir=workdir,
        threads=4,
        ready_path="/healthz",
        env={
            "DJANGO_SETTINGS_MODULE": "live_gunicorn_settings",
            "PYTHONPATH": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'unused.sqlite3'}",
        },
    ).start()
    yield server.url
    server.stop()


@pytest.mark.django_db(transaction=False)
def test_first_event_arrives_within_50_ms_of_leaving_the_upstream(gunicorn_bff):
    response = requests.get(
        f"{gunicorn_bff}/api/live/events/timed?n=50&gap=0.02",
        headers=EVENT_HEADERS,
        stream=True,
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["X-Accel-Buffering"] == "no"
    latencies = [
        received - float(field(event, "data")) for received, event in read_events(response)
    ]
    assert len(latencies) == 50
    print(
        f"SSE latency through the BFF (gunicorn): first {latencies[0] * 1000:.2f} ms, "
        f"median {statistics.median(latencies) * 1000:.2f} ms, max {max(latencies) * 1000:.2f} ms"
    )
    assert latencies[0] < 0.050
    # Later ones too, typically; the machine is shared, so one slow event is not a failure.
    assert statistics.median(latencies) < 0.050


@pytest.mark.django_db(transaction=False)
def test_a_thousand_events_arrive_none_lost_or_merged(gunicorn_bff):
    response = requests.get(
        f"{gunicorn_bff}/api/live/events/burst?n=1000",
        headers=EVENT_HEADERS,
        stream=True,
        timeout=10,
    )
    events = [event for _, event in read_events(response)]
    assert [field(e, "id") for e in events] == [str(i) for i in range(1000)]
    assert [field(e, "data") for e in events] == [f"event-{i}" for i in range(1000)]


def test_a_quiet_upstream_that_keeps_sending_is_not_cut_by_the_read_timeout(
    signed_in, live_server, live_upstream, settings
):
    # Every gap between two events is longer than the upstream's read timeout.
    settings.BFF_UPSTREAMS = {"live": {"url": live_upstream.url, "read_timeout": 0.3}}
    response = open_events(signed_in, live_server, "events/timed?n=4&gap=0.6")
    assert len(list(read_events(response))) == 4


def test_an_event_stream_needs_no_x_csrf_but_only_from_this_origin(signed_in, live_server):
    ok = open_events(
        signed_in, live_server, "events/burst?n=1", **{"Sec-Fetch-Site": "same-origin"}
    )
    assert ok.status_code == 200
    ok.close()
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        refused = open_events(signed_in, live_server, "events/burst?n=1", **headers)
        assert refused.status_code == 403
        assert refused.json()["error"] == "csrf_required"
    # Anything else than an event stream still needs it.
    plain = signed_in.get(f"{live_server.url}/api/live/events/burst?n=1", timeout=10)
    assert plain.status_code == 403


def test_streams_per_session_are_limited(signed_in, live_server, settings):
    settings.BFF_LIVE_MAX_STREAMS_PER_SESSION = 1
    first = open_events(signed_in, live_server, "events/ticks?gap=0.1")
    assert first.status_code == 200
    second = open_events(signed_in, live_server, "events/ticks?gap=0.1")
    assert second.status_code == 429
    assert second.json()["error"] == "too_many_streams"
    first.close()


def stream_until_closed(response: requests.Response, started: threading.Event, out: dict):
    for received, event in read_events(response):
        started.set()
        out["last"] = (received, event)
    out["closed_at"] = time.monotonic()


def watch(response):
    started, out = threading.Event(), {}
    thread = threading.Thread(target=stream_until_closed, args=(response, started, out))
    thread.start()
    assert started.wait(5)
    return thread, out


def assert_closed_within_a_second(thread, out, ended_at: float) -> None:
    thread.join(5)
    assert not thread.is_alive()
    assert out["closed_at"] - ended_at < 1.0, out["closed_at"] - ended_at
    last = out["last"][1]
    assert field(last, "event") == CLOSED_EVENT
    assert field(last, "data") == "session_ended"


def test_the_stream_closes_within_a_second_of_an_admin_ending_the_session(signed_in, live_server):
    response = open_events(signed_in, live_server, "events/ticks?gap=0.1")
    thread, out = watch(response)
    record = TokenSession.objects.live().get()
    admin = User.objects.create_superuser("root", "root@example.com", "pw-for-the-test")
    client = Client()
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    ended_at = time.monotonic()
    client.post(
        "/admin/bff/tokensession/", {"action": "end_selected", "_selected_action": [record.pk]}
    )
    assert_closed_within_a_second(thread, out, ended_at)
    assert streams.open_counts()[streams.EVENTS] == 0


def test_the_stream_closes_within_a_second_of_an_end_in_another_process(signed_in, live_server):
    """No signal reaches this process: the watcher's poll finds the end."""
    response = open_events(signed_in, live_server, "events/ticks?gap=0.1")
    thread, out = watch(response)
    session_ended.disconnect(dispatch_uid="bff.live.stop_streams")
    try:
        ended_at = time.monotonic()
        end_sessions(TokenSession.objects.live(), TokenSession.EndReason.BACKCHANNEL)
        assert_closed_within_a_second(thread, out, ended_at)
    finally:
        session_ended.connect(
            streams.stop_streams_of_ended_sessions, dispatch_uid="bff.live.stop_streams"
        )
