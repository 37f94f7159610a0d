"""oidc-provider-mock (PyPI; Flask + authlib) as its own process, for the provider matrix.

    python -m tests.support.mock_op <config.json>

The config names `port`, `users` (claims objects with a `sub`), `require_registration`,
`issue_refresh_token` and `token_max_age` (seconds), the options of the library's own CLI.
The app is the library's, unchanged, served by Werkzeug's threaded server on 127.0.0.1 (as
its `run_server_in_thread` does). One addition outside the provider's routes: GET /_calls
lists what reached it (method, path, status; for the token endpoint the grant type,
expires_in, the names of the response fields and the SHA-256 of an ID token, never a token).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import flask
import oidc_provider_mock
from werkzeug.serving import make_server

CALLS_PATH = "/_calls"


def build_app(config: dict[str, Any]) -> flask.Flask:
    """The library's app for `config`, recording each call's shape in `calls`."""
    app = oidc_provider_mock.app(
        require_client_registration=config.get("require_registration", True),
        require_nonce=True,
        issue_refresh_token=config.get("issue_refresh_token", True),
        access_token_max_age=timedelta(seconds=config.get("token_max_age", 900)),
        user_claims=[
            oidc_provider_mock.User(
                sub=user["sub"], claims={k: v for k, v in user.items() if k != "sub"}
            )
            for user in config.get("users", [])
        ],
    )
    calls: list[dict[str, Any]] = []

    @app.after_request
    def record(response: flask.Response) -> flask.Response:
        request = flask.request
        if request.path != CALLS_PATH:
            call: dict[str, Any] = {
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
            }
            if request.path == "/oauth2/token":
                call["grant_type"] = request.form.get("grant_type")
                body = response.get_json(silent=True)
                if isinstance(body, dict):
                    call["fields"] = sorted(body)
                    if isinstance(body.get("expires_in"), int):
                        call["expires_in"] = body["expires_in"]
                    if isinstance(body.get("id_token"), str):
                        call["id_token_sha256"] = sha256(body["id_token"].encode()).hexdigest()
                    if "error" in body:
                        call["error"] = body["error"]
            calls.append(call)
        return response

    app.add_url_rule(CALLS_PATH, "calls", lambda: flask.jsonify(calls))
    return app


def main(argv: list[str]) -> None:
    config = json.loads(Path(argv[1]).read_text())
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on 127.0.0.1, as its CLI does
    server = make_server("127.0.0.1", config["port"], build_app(config), threaded=True)
    print(f"oidc-provider-mock listening on 127.0.0.1:{config['port']}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
