"""An upstream's own audience: how the token minted for it is obtained (docs/gateway.md).

`{"resource": "https://billing.example"}`: the refresh grant with that RFC 8707 resource
indicator. `{"exchange": "billing-api", "scope": "read"}`: an RFC 8693 token exchange of the
user's access token for one whose audience is `billing-api` (and the scope, when given).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

RESOURCE = "resource"
EXCHANGE = "exchange"
MECHANISMS = (RESOURCE, EXCHANGE)


@dataclass(frozen=True)
class Audience:
    """What an upstream's token is minted for, and by which grant."""

    mechanism: str
    target: str
    scope: str = ""


def parse_audience(upstream: str, raw: Any) -> Audience | None:
    """The `audience` of BFF_UPSTREAMS[upstream]; ImproperlyConfigured saying what to fix."""
    if raw is None:
        return None
    where = f"BFF_UPSTREAMS[{upstream!r}]['audience']"
    if isinstance(raw, Audience):
        return raw
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(
            f"{where} must be a dict: {{'resource': uri}} or "
            "{'exchange': audience, 'scope': ...}."
        )
    named = [key for key in MECHANISMS if key in raw]
    unknown = set(raw) - {*MECHANISMS, "scope"}
    if len(named) != 1 or unknown:
        raise ImproperlyConfigured(
            f"{where} takes exactly one of 'resource' or 'exchange' (and 'scope' with "
            f"'exchange'); got {sorted(raw)}."
        )
    mechanism = named[0]
    target = raw[mechanism]
    scope = raw.get("scope", "")
    if not isinstance(target, str) or not target.strip() or not isinstance(scope, str):
        raise ImproperlyConfigured(f"{where}: {mechanism!r} and 'scope' must be strings.")
    if mechanism == RESOURCE:
        parts = urlsplit(target)
        # RFC 8707 2: an absolute URI without a fragment.
        if not parts.scheme or parts.fragment or "#" in target:
            raise ImproperlyConfigured(
                f"{where}: a resource indicator is an absolute URI without a fragment, "
                f"got {target!r}."
            )
        if scope:
            raise ImproperlyConfigured(f"{where}: 'scope' goes with 'exchange' only.")
    return Audience(mechanism=mechanism, target=target.strip(), scope=scope.strip())
