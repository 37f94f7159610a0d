"""Encryption of tokens at rest with MultiFernet (first key encrypts, every key decrypts)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from bff.conf import bff_settings
from bff.exceptions import TokensUnreadable


def derived_key(secret: str) -> bytes:
    """A Fernet key derived from SECRET_KEY: the development fallback (check bff.W001)."""
    digest = hashlib.sha256(b"bff.token-encryption:" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    # Derived keys follow SECRET_KEY rotation: the fallbacks still decrypt.
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    keys = bff_settings.BFF_TOKEN_ENCRYPTION_KEYS or [derived_key(secret) for secret in secrets]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "BFF_TOKEN_ENCRYPTION_KEYS must be comma-separated Fernet keys "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())')"
        ) from exc


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(value: str) -> str:
    """The plaintext; TokensUnreadable when no configured key opens it."""
    if not value:
        return ""
    try:
        return _fernet().decrypt(value.encode()).decode()
    except InvalidToken as exc:
        raise TokensUnreadable() from exc


def rotate(value: str) -> str:
    """Re-encrypt with the first key (after adding a new key in front)."""
    return _fernet().rotate(value.encode()).decode() if value else ""


def _reset(*, setting: str, **kwargs: object) -> None:
    if setting in ("BFF_TOKEN_ENCRYPTION_KEYS", "SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        _fernet.cache_clear()


setting_changed.connect(_reset)
