"""Live data end to end: the demo API under uvicorn (strawberry subscriptions, an event
stream), the BFF's WSGI live server for pages and /api, its ASGI application beside it for
WebSockets, the built-in provider for sign-in."""

from __future__ import annotations

import json

import pytest
import requests
from websockets.sync.client import connect

from oidc.provider import reset_providers
from tests.bff.live_fixtures import field, read_events
from tests.conftest import CLIENT_ID, CLIENT_SECRET, issuer_of, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

SUBSCRIBE = "subscription { itemAdded { name } }"


@pytest.fixture
def signed_in(settings, idp, live_demo, live_server, bff_asgi, browser) -> requests.Session:
    settings.OIDC_PROVIDERS = {
        "oidc": {"issuer": issuer_of(idp), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    }
    settings.BFF_UPSTREAMS = {
        "graphql": f"{live_demo.url}/graphql",
        "demo": f"{live_demo.url}/rest",
    }
    settings.CSRF_TRUSTED_ORIGINS = [live_server.url]
    reset_providers()
    assert sign_in(browser, live_server.url).status_code == 302
    yield browser
    reset_providers()


def add_item(browser: requests.Session, bff: str, name: str) -> None:
    response = browser.post(
        f"{bff}/api/demo/items",
        json={"name": name},
        headers={"X-CSRF": "1", "Origin": bff},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def open_socket(browser, live_server, bff_asgi, protocol: str):
    return connect(
        f"{bff_asgi.ws_url}/api/graphql",
        origin=live_server.url,
        additional_headers={"Cookie": f"bff_session={browser.cookies['bff_session']}"},
        subprotocols=[protocol],
        open_timeout=10,
    )


def receive(socket) -> dict:
    while True:
        message = json.loads(socket.recv(timeout=10))
        if message["type"] not in ("ping", "pong", "ka"):
            return message


def test_graphql_transport_ws_subscription_through_the_bff(signed_in, live_server, bff_asgi):
    with open_socket(signed_in, live_server, bff_asgi, "graphql-transport-ws") as socket:
        assert socket.subprotocol == "graphql-transport-ws"
        socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert receive(socket)["type"] == "connection_ack"
        socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        add_item(signed_in, live_server.url, "live milk")
        message = receive(socket)
    assert message == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"itemAdded": {"name": "live milk"}}},
    }


def test_legacy_graphql_ws_subscription_through_the_bff(signed_in, live_server, bff_asgi):
    with open_socket(signed_in, live_server, bff_asgi, "graphql-ws") as socket:
        assert socket.subprotocol == "graphql-ws"
        socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert receive(socket)["type"] == "connection_ack"
        socket.send(json.dumps({"id": "1", "type": "start", "payload": {"query": SUBSCRIBE}}))
        add_item(signed_in, live_server.url, "live bread")
        message = receive(socket)
    assert message["type"] == "data"
    assert message["payload"]["data"] == {"itemAdded": {"name": "live bread"}}


def test_the_demo_items_event_stream_through_the_bff(signed_in, live_server):
    response = signed_in.get(
        f"{live_server.url}/api/demo/items/events",
        headers={"Accept": "text/event-stream"},
        stream=True,
        timeout=10,
    )
    assert response.status_code == 200
    events = read_events(response)
    next(events)  # the stream's opening comment
    add_item(signed_in, live_server.url, "live eggs")
    _, event = next(events)
    response.close()
    assert field(event, "event") == "item-added"
    assert json.loads(event.split("data:", 1)[1])["name"] == "live eggs"
