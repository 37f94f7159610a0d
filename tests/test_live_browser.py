"""Live data in a real browser: two tabs of one person on the items page; an item added in
one arrives in the other through the itemAdded subscription (api.js subscribe over the
BFF's WebSocket, the demo API under uvicorn behind it)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from oidc.provider import reset_providers
from tests.bff.test_browser_items import open_items_signed_in
from tests.conftest import CLIENT_ID, CLIENT_SECRET, issuer_of
from tests.support.browser import chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_site(settings, idp, live_demo, live_server, bff_asgi) -> Iterator[str]:
    settings.OIDC_PROVIDERS = {
        "oidc": {"issuer": issuer_of(idp), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    }
    settings.BFF_UPSTREAMS = {
        "graphql": f"{live_demo.url}/graphql",
        "demo": f"{live_demo.url}/rest",
    }
    # Pages from the WSGI live server, WebSockets from the ASGI process beside it (make run).
    settings.CSRF_TRUSTED_ORIGINS = [live_server.url]
    settings.BFF_LIVE_WEBSOCKET_URL = bff_asgi.ws_url
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["connect-src"].append(bff_asgi.ws_url)
    settings.CONTENT_SECURITY_POLICY = policy
    reset_providers()
    yield live_server.url
    reset_providers()


@pytest.fixture
def page(monkeypatch) -> Iterator[Page]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_page() as page:
        yield page


def test_an_item_added_in_one_tab_arrives_in_the_other(live_site, page):
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(str(frame))))
    open_items_signed_in(page, live_site)
    # The first tab has subscribed (after the server's connection_ack); up to 30 s on a busy
    # machine.
    for _ in range(600):
        if any('"subscribe"' in frame for frame in sent):
            break
        page.wait_for_timeout(50)
    assert any('"subscribe"' in frame for frame in sent), sent
    assert not any("Bearer" in frame or "token" in frame.lower() for frame in sent)

    other = page.context.new_page()  # the same browser: the same session cookie
    other.goto(f"{live_site}/items")
    expect(other.locator("#items")).to_have_attribute("aria-busy", "false")

    name = f"Arrives live {uuid.uuid4().hex[:8]}"
    other.fill("#item-name", name)
    other.click("#add-item button[type=submit]")
    expect(other.locator("#status")).to_have_text(f"Added “{name}”.")

    # No reload in the first tab: the item arrives over its subscription, once.
    expect(page.locator("#items li").filter(has_text=name)).to_have_count(1)
    assert page.url == f"{live_site}/items"


EVENT_SOURCE = """async (name) => {
  const source = new EventSource("/api/demo/items/events");
  const arrived = new Promise((resolve) => {
    source.addEventListener("item-added", (event) => resolve(JSON.parse(event.data).name));
  });
  await new Promise((resolve) => { source.onopen = resolve; });
  await fetch("/api/demo/items", {
    method: "POST",
    headers: { "X-CSRF": "1", "Content-Type": "application/json" },
    body: JSON.stringify({ name }),
  });
  const got = await arrived;
  source.close();
  return got;
}"""

FETCH_STREAM = """async (name) => {
  const response = await fetch("/api/demo/items/events", {
    headers: { Accept: "text/event-stream" },
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value);  // the opening comment
  await fetch("/api/demo/items", {
    method: "POST",
    headers: { "X-CSRF": "1", "Content-Type": "application/json" },
    body: JSON.stringify({ name }),
  });
  while (!text.includes("event: item-added")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  await reader.cancel();
  return [response.status, text];
}"""


def test_event_source_and_fetch_streaming_read_the_event_stream(live_site, page):
    open_items_signed_in(page, live_site)

    name = f"Through EventSource {uuid.uuid4().hex[:8]}"
    assert page.evaluate(EVENT_SOURCE, name) == name

    name = f"Through fetch {uuid.uuid4().hex[:8]}"
    status, text = page.evaluate(FETCH_STREAM, name)
    assert status == 200
    assert name in text
