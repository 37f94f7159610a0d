"""Live data through the gateway: server-sent events (bff.live.events, under WSGI) and
WebSockets (bff.live.websocket, an ASGI application), with the open streams of a process and
their watcher in bff.live.streams."""
