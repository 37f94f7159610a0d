"""HTTP helpers for calling a demo server in tests."""

from __future__ import annotations

from typing import Any

import requests

from tests.support.servers import Server


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


def graphql(
    server: Server,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """POST a GraphQL document as JSON."""
    return requests.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers or {},
        timeout=10,
    )
