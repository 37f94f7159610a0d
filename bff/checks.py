"""Deploy checks of the token lifecycle (shown by `manage.py check --deploy`)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from bff.conf import bff_settings
from bff.locks.database import DatabaseLock
from bff.upstreams import upstreams


@register(Tags.security, deploy=True)
def check_token_encryption_keys(app_configs, **kwargs):
    if not bff_settings.BFF_TOKEN_ENCRYPTION_KEYS:
        return [
            Warning(
                "Tokens are encrypted with a key derived from SECRET_KEY.",
                hint="Set BFF_TOKEN_ENCRYPTION_KEYS to one or more Fernet keys (newest first), "
                "so rotating SECRET_KEY does not make stored tokens unreadable.",
                id="bff.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_demo_wiring(app_configs, **kwargs):
    if getattr(settings, "DEMO_MODE", False):
        return [
            Error(
                "No OIDC_ISSUER is set: the BFF uses the development provider and demo API.",
                hint="Set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET for production.",
                id="bff.E001",
            )
        ]
    return []


@register(Tags.caches, deploy=True)
def check_lock_backend(app_configs, **kwargs):
    engine = settings.DATABASES["default"]["ENGINE"]
    uses_db_lock = issubclass(bff_settings.BFF_LOCK_BACKEND, DatabaseLock)
    if uses_db_lock and "sqlite" in engine:
        return [
            Warning(
                "The refresh lock is the SQLite write lock: fine for one host, not for several.",
                hint="Scale out on PostgreSQL (DATABASE_URL) and, optionally, "
                "BFF_LOCK_BACKEND=bff.locks.redis.RedisLock.",
                id="bff.W002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_trusted_proxies(app_configs, **kwargs):
    if settings.SECURE_PROXY_SSL_HEADER and not bff_settings.BFF_TRUSTED_PROXIES:
        return [
            Warning(
                "DJANGO_BEHIND_PROXY is on but no proxy is trusted.",
                hint="Set BFF_TRUSTED_PROXIES to the proxy's addresses or networks; outside "
                "gunicorn (config/gunicorn.conf.py) X-Forwarded-Proto is then believed from "
                "any peer.",
                id="bff.W003",
            )
        ]
    return []


@register()
def check_upstreams(app_configs, **kwargs):
    """BFF_UPSTREAMS, BFF_ROUTE_RULES and BFF_RATE_LIMITS build a registry."""
    try:
        upstreams()
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Fix the setting named; docs/gateway.md shows each form.",
                id="bff.E002",
            )
        ]
    return []
