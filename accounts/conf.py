"""Every setting of the accounts app (sign-in and sign-out), read in one place."""

from __future__ import annotations

from typing import Any

from oidc.app_settings import AppSettings

DEFAULTS: dict[str, Any] = {
    # A started sign-in (state, nonce, PKCE verifier) expires after this.
    "OIDC_LOGIN_STATE_TTL_SECONDS": 600,
    # Sign-ins a browser may have in flight at once (tabs); the oldest is dropped beyond it.
    "OIDC_MAX_PENDING_LOGINS": 8,
    # Public base URL of the BFF (https://app.example.com); empty: from the request.
    "BFF_PUBLIC_URL": "",
    # Requests per client address: scope -> (count, window in seconds); over it, 429.
    "ACCOUNTS_RATE_LIMITS": {
        "login": (30, 60),
        "callback": (30, 60),
        "backchannel": (120, 60),
    },
}

accounts_settings = AppSettings(DEFAULTS)
