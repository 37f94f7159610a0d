"""The provider's RSA signing key: one PEM file, generated on first use."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from oauth2_provider.utils import jwk_from_pem

KEY_SIZE = 2048


def load_or_create_private_key_pem(path: Path) -> str:
    """Return the PEM private key stored at path, creating a new RSA key there if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written to a private temp file and hard-linked into place: the link fails if another
        # process (a second gunicorn worker, a manage.py command) won the race, so every
        # process ends up signing with the same key, and no one reads a half-written file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as tmp_file:
                tmp_file.write(pem)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_text()


@dataclass(frozen=True)
class SigningKey:
    """The private key ready for signing, and its key id as published in the JWKS."""

    private_key: rsa.RSAPrivateKey
    kid: str


@functools.cache
def signing_key() -> SigningKey:
    """The active signing key (DOT's OIDC_RSA_PRIVATE_KEY), parsed once per process."""
    pem: str = settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"]
    private_key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    # DOT's JWKS view and ID tokens use the JWK thumbprint as kid; reuse its exact computation.
    return SigningKey(private_key=private_key, kid=jwk_from_pem(pem).thumbprint())
