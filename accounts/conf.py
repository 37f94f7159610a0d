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
    # Admin rights from the provider, applied at every sign-in (granted, and withdrawn when
    # the claim stops saying so; rights given by hand or by grant_admin are never withdrawn).
    # The claim to read: "groups", "roles", or a dotted path ("realm_access.roles"); a name
    # with dots is first looked up whole (Auth0's "https://example.com/roles"). Empty: off.
    "OIDC_STAFF_CLAIM": "",
    # Values of that claim (a list, or a comma-separated string) that make a user staff, who
    # may open /admin/; superuser values make a user superuser and staff.
    "OIDC_STAFF_VALUES": [],
    "OIDC_SUPERUSER_VALUES": [],
    # Providers whose claim is believed (names); empty: every configured provider.
    "OIDC_STAFF_PROVIDERS": [],
    # /admin/login/ also takes a password (Django's form). Off: the admin signs in through
    # the provider like the app, and a password is never asked.
    "ACCOUNTS_ADMIN_PASSWORD_LOGIN": False,
    # purge_audit deletes audit rows older than this many days.
    "ACCOUNTS_AUDIT_RETENTION_DAYS": 365,
}

accounts_settings = AppSettings(DEFAULTS)
