"""WebSockets through /api/<upstream>/... (the BFF's ASGI application under uvicorn): the
handshake's checks, messages both ways, subprotocols end to end, and the close codes when the
session ends, the token is renewed, or a message is too big."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from accounts.models import User
from bff.live import streams
from bff.live.websocket import MESSAGE_TOO_BIG, RECONNECT, SESSION_ENDED
from bff.models import TokenSession
from bff.sessions import end_sessions
from bff.signals import session_ended
from tests.accounts import conftest as accounts_fixtures
from tests.bff.conftest import make_due, revoke_at_provider
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)
# The hostile provider signs back-channel logout tokens (tests/accounts).
hostile_server = accounts_fixtures.hostile_server
hostile_provider = accounts_fixtures.hostile


class Browser:
    """A signed-in browser's WebSocket handshakes: its cookie, its page's Origin."""

    def __init__(self, session, live_server, bff_asgi) -> None:
        self.cookie = session.cookies["bff_session"]
        self.origin = live_server.url
        self.base = bff_asgi.ws_url

    def connect(self, path: str = "/api/live/ws/echo", *, origin: str | None = None, **kwargs):
        headers = {"Cookie": f"bff_session={self.cookie}"} if self.cookie else {}
        return connect(
            f"{self.base}{path}",
            origin=origin or self.origin,
            additional_headers=headers,
            open_timeout=10,
            **kwargs,
        )


@pytest.fixture
def page(lenient, live_server, live_upstream, bff_asgi, browser, settings) -> Browser:
    settings.BFF_UPSTREAMS = {"live": live_upstream.url}
    # The page is served by the WSGI process; the WebSockets by the ASGI one beside it.
    settings.CSRF_TRUSTED_ORIGINS = [live_server.url]
    assert sign_in(browser, live_server.url).status_code == 302
    live_upstream.app.authorizations.clear()
    return Browser(browser, live_server, bff_asgi)


def closed_code(socket, timeout: float = 5.0) -> tuple[int, float]:
    """Wait for the gateway to close `socket`: (close code, when)."""
    with pytest.raises(ConnectionClosed):
        while True:
            socket.recv(timeout=timeout)
    return socket.close_code, time.monotonic()


def test_messages_and_subprotocol_go_through_unchanged_with_the_sessions_token(page, live_upstream):
    with page.connect(subprotocols=["graphql-transport-ws", "graphql-ws"]) as socket:
        assert socket.subprotocol == "graphql-transport-ws"
        socket.send('{"type":"connection_init","payload":{"hello":"world"}}')
        assert socket.recv(timeout=5) == '{"type":"connection_init","payload":{"hello":"world"}}'
        socket.send(b"\x00\x01binary")
        assert socket.recv(timeout=5) == b"\x00\x01binary"
    record = TokenSession.objects.live().get()
    assert live_upstream.app.authorizations == [f"Bearer {record.tokens.access_token}"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"cookie": ""}, 401),
        ({"origin": "https://evil.example"}, 403),
        ({"path": "/api/nowhere/ws"}, 404),
        ({"path": "/api/live/../admin"}, 400),
    ],
)
def test_handshake_refused(page, live_upstream, change, status):
    if "cookie" in change:
        page.cookie = change["cookie"]
    with pytest.raises(InvalidStatus) as refused:
        page.connect(change.get("path", "/api/live/ws/echo"), origin=change.get("origin"))
    assert refused.value.response.status_code == status
    assert live_upstream.app.authorizations == []


def test_the_upstreams_close_code_reaches_the_browser(page):
    with page.connect() as socket:
        socket.send("close-4321")
        code, _ = closed_code(socket)
    assert code == 4321


def test_a_message_over_the_limit_closes_with_1009(page, settings):
    settings.BFF_LIVE_MAX_MESSAGE_BYTES = 1000
    with page.connect() as socket:
        socket.send("x" * 1000)
        assert socket.recv(timeout=5) == "x" * 1000
        socket.send("x" * 1001)
        code, _ = closed_code(socket)
    assert code == MESSAGE_TOO_BIG


def test_open_streams_per_session_are_limited(page, settings):
    settings.BFF_LIVE_MAX_STREAMS_PER_SESSION = 1
    with page.connect():
        with pytest.raises(InvalidStatus) as refused:
            page.connect()
        assert refused.value.response.status_code == 429


def test_closed_within_a_second_of_an_admin_ending_the_session(page):
    with page.connect() as socket:
        record = TokenSession.objects.live().get()
        admin = User.objects.create_superuser("root", "root@example.com", "pw-for-the-test")
        client = Client()
        client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
        ended_at = time.monotonic()
        client.post(
            "/admin/bff/tokensession/", {"action": "end_selected", "_selected_action": [record.pk]}
        )
        code, closed_at = closed_code(socket)
    assert code == SESSION_ENDED
    assert closed_at - ended_at < 1.0


def test_closed_within_a_second_of_an_end_in_another_process(page):
    """A back-channel logout served by another process: no signal here, the poll finds it."""
    with page.connect() as socket:
        session_ended.disconnect(dispatch_uid="bff.live.stop_streams")
        try:
            ended_at = time.monotonic()
            end_sessions(TokenSession.objects.live(), TokenSession.EndReason.BACKCHANNEL)
            code, closed_at = closed_code(socket)
        finally:
            session_ended.connect(
                streams.stop_streams_of_ended_sessions, dispatch_uid="bff.live.stop_streams"
            )
    assert code == SESSION_ENDED
    assert closed_at - ended_at < 1.0


def test_a_long_lived_subscription_reconnects_with_a_fresh_token_one_grant_per_rotation(
    page, lenient, live_upstream, settings
):
    # Due in about a second: not at the handshake, but while the sockets are open.
    settings.BFF_REFRESH_BUFFER_SECONDS = 300
    old = make_due(remaining=301.5)
    lenient.proxy.reset()
    codes: list[int] = []
    with page.connect() as first, page.connect() as second:
        threads = [
            threading.Thread(target=lambda s=s: codes.append(closed_code(s, timeout=10)[0]))
            for s in (first, second)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
    assert codes == [RECONNECT, RECONNECT]
    assert lenient.proxy.refresh_grants == 1
    # The client reconnects, as the close code says: the upstream sees the new token.
    with page.connect() as socket:
        socket.send("hello")
        assert socket.recv(timeout=5) == "hello"
    fresh = TokenSession.objects.live().get()
    assert fresh.tokens.access_token != old.tokens.access_token
    assert live_upstream.app.authorizations[-1] == f"Bearer {fresh.tokens.access_token}"
    assert live_upstream.app.authorizations[:2] == [f"Bearer {old.tokens.access_token}"] * 2
    assert lenient.proxy.refresh_grants == 1


@pytest.fixture
def hostile_page(hostile_provider, live_server, live_upstream, bff_asgi, settings) -> Browser:
    """Signed in at the hostile provider, which signs the back-channel logout tokens."""
    settings.BFF_UPSTREAMS = {"live": live_upstream.url}
    settings.CSRF_TRUSTED_ORIGINS = [live_server.url]
    session = requests.Session()
    assert accounts_fixtures.sign_in(session, live_server.url).status_code == 302
    return Browser(session, live_server, bff_asgi)


def test_closed_within_a_second_of_a_back_channel_logout(
    hostile_provider, hostile_page, live_server
):
    with hostile_page.connect() as socket:
        ended_at = time.monotonic()
        response = requests.post(
            f"{live_server.url}/auth/backchannel-logout/hostile",
            data={"logout_token": hostile_provider.logout_token()},
            timeout=10,
        )
        assert response.status_code == 200
        code, closed_at = closed_code(socket)
    assert code == SESSION_ENDED
    assert closed_at - ended_at < 1.0


def test_closed_when_the_token_expires_and_cannot_be_refreshed(page, lenient, settings):
    settings.BFF_REFRESH_BUFFER_SECONDS = 300
    record = make_due(remaining=301.0)
    revoke_at_provider(lenient, record.tokens.refresh_token)
    with page.connect() as socket:
        code, _ = closed_code(socket)
    assert code == SESSION_ENDED
    assert (
        TokenSession.objects.get(pk=record.pk).end_reason == TokenSession.EndReason.REFRESH_REJECTED
    )


def test_an_open_websocket_does_not_slide_the_idle_timeout(page, settings):
    settings.BFF_LAST_SEEN_INTERVAL_SECONDS = 0
    before = TokenSession.objects.live().get().last_seen_at
    with page.connect() as socket:
        for _ in range(5):
            socket.send("still here")
            assert socket.recv(timeout=5) == "still here"
            time.sleep(0.2)
    assert TokenSession.objects.live().get().last_seen_at == before
