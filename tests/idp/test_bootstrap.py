"""The idp_bootstrap command: idempotent, and silent about secrets."""

from __future__ import annotations

import requests

from tests.idp.flow import CLIENT_ID, CLIENT_SECRET, EMAIL, PASSWORD, REDIRECT_URI
from tests.support.servers import Server


def bootstrap(idp: Server, *extra: str) -> str:
    return idp.manage(
        "idp_bootstrap",
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
        "--redirect-uri",
        REDIRECT_URI,
        "--post-logout-redirect-uri",
        "http://127.0.0.1:9/signed-out",
        *extra,
    )


def test_running_it_again_updates_in_place_and_never_prints_secrets(idp: Server) -> None:
    output = bootstrap(
        idp, "--user-email", EMAIL, "--user-password", PASSWORD, "--user-name", "Alice Example"
    )
    assert f"Updated client '{CLIENT_ID}'" in output
    assert f"Updated account {EMAIL}" in output
    assert CLIENT_SECRET not in output
    assert PASSWORD not in output
    # Still exactly one working client with that secret.
    response = requests.post(
        f"{idp.url}/o/revoke_token/",
        data={"token": "x"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert response.status_code == 200


def test_it_creates_a_new_client(idp: Server) -> None:
    output = idp.manage(
        "idp_bootstrap",
        "--client-id",
        "another-client",
        "--client-secret",
        "another-secret",
        "--redirect-uri",
        "https://app.example/callback",
    )
    assert "Created client 'another-client'" in output
    assert "another-secret" not in output
