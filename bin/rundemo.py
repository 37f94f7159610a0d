#!/usr/bin/env python
"""`make run`: migrate, prepare the demo, and run the BFF, the built-in provider and the
demo API on SQLite. Ctrl-C stops all of them.

    BFF        http://127.0.0.1:8000   (gunicorn: pages, /api, event streams)
    BFF live   ws://127.0.0.1:8003     (uvicorn config.asgi: the WebSockets under /api)
    provider   http://localhost:8001   (another host name: browsers share cookies per host)
    demo API   http://127.0.0.1:8002   (uvicorn demo.asgi: also its subscriptions)

Without a proxy in front to route Upgrade requests (docs/deploy.md), the pages are told
where the WebSockets are (BFF_LIVE_WEBSOCKET_URL) and the ASGI process trusts the pages'
origin (DJANGO_CSRF_TRUSTED_ORIGINS).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BFF_URL = "http://127.0.0.1:8000"
IDP_URL = "http://localhost:8001"
API_URL = "http://127.0.0.1:8002"
LIVE_URL = "ws://127.0.0.1:8003"
DEMO_EMAIL = os.environ.get("DEMO_USER_EMAIL", "demo@example.com")
DEMO_PASSWORD = os.environ.get("DEMO_USER_PASSWORD", "demo-password-123")
CLIENT_ID = "bff-demo"
CLIENT_SECRET = "bff-demo-secret-development-only"
# The gateway's route rules and budgets on the demo API (docs/gateway.md): adding an item
# needs the `profile` scope, which the demo user's token carries; /api/demo/admin/... is
# closed to everyone. The environment's own BFF_ROUTE_RULES / BFF_RATE_LIMITS win.
DEMO_ROUTE_RULES = {
    "demo": [
        {"methods": ["POST"], "path": "/items", "scopes": ["profile"]},
        {"path": "/admin", "deny": True},
    ]
}
DEMO_RATE_LIMITS = "session=300/60,anonymous=60/60"


def manage(settings: str, *args: str) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings}
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def serve(settings: str, port: int, extra_env: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, **extra_env}
    wsgi = settings.rsplit(".", 1)[0] + ".wsgi"
    command = [PY, "-m", "gunicorn", wsgi, "--bind", f"127.0.0.1:{port}"]
    command += ["--worker-class", "gthread", "--threads", "8", "--log-level", "warning"]
    command += ["--no-control-socket"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def serve_asgi(application: str, settings: str, port: int, extra_env: dict[str, str]):
    """An ASGI application under uvicorn (WebSockets)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, **extra_env}
    command = [PY, "-m", "uvicorn", application, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--ws", "websockets-sansio"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # A SIGTERM (from a supervisor or `timeout`) stops the children too, like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    (ROOT / "var").mkdir(exist_ok=True)
    bff_env = {
        "DJANGO_DEBUG": "true",
        "DJANGO_HTTPS": "false",
        "BFF_LIVE_WEBSOCKET_URL": LIVE_URL,
        "DJANGO_CSRF_TRUSTED_ORIGINS": BFF_URL,
    }
    os.environ.setdefault("BFF_ROUTE_RULES", json.dumps(DEMO_ROUTE_RULES))
    os.environ.setdefault("BFF_RATE_LIMITS", DEMO_RATE_LIMITS)
    os.environ.update({"IDP_DEBUG": "true", "DEMO_DEBUG": "true", **bff_env})
    print("Preparing databases …", flush=True)
    manage("config.settings", "migrate", "--verbosity", "0")
    manage("idp.settings", "migrate", "--verbosity", "0")
    manage("demo.settings", "migrate", "--verbosity", "0")
    manage(
        "idp.settings",
        "idp_bootstrap",
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
        "--redirect-uri",
        f"{BFF_URL}/auth/callback/oidc",
        "--post-logout-redirect-uri",
        f"{BFF_URL}/auth/signed-out",
        "--user-email",
        DEMO_EMAIL,
        "--user-password",
        DEMO_PASSWORD,
        "--user-name",
        "Demo User",
    )
    manage("config.settings", "collectstatic", "--noinput", "--verbosity", "0")
    servers = [
        # The billing API takes only tokens minted for it: the BFF asks for them with a
        # resource indicator (RFC 8707) on the refresh grant (docs/gateway.md).
        serve(
            "idp.settings",
            8001,
            {"IDP_ISSUER": f"{IDP_URL}/o", "IDP_RESOURCE_INDICATORS": f"{API_URL}/billing"},
        ),
        serve_asgi(
            "demo.asgi:application",
            "demo.settings",
            8002,
            {"DEMO_ISSUER": f"{IDP_URL}/o", "DEMO_BILLING_AUDIENCE": f"{API_URL}/billing"},
        ),
        serve("config.settings", 8000, {"DJANGO_DEBUG": "false"}),
        serve_asgi("config.asgi:application", "config.settings", 8003, {"DJANGO_DEBUG": "false"}),
    ]
    time.sleep(1.5)
    print(
        f"\n  Open {BFF_URL} and sign in as {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
        f"  (provider {IDP_URL}, demo API {API_URL}, WebSockets {LIVE_URL}).\n"
        "  Open /items in two tabs: an item added in one appears in the other. Ctrl-C stops all.\n",
        flush=True,
    )
    try:
        while all(server.poll() is None for server in servers):
            time.sleep(0.5)
        print("A server stopped; stopping the others.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for server in servers:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
