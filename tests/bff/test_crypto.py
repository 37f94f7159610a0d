"""Tokens at rest: MultiFernet with key rotation."""

from __future__ import annotations

from cryptography.fernet import Fernet

from bff import crypto


def test_encrypts_and_decrypts_with_rotated_keys(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.BFF_TOKEN_ENCRYPTION_KEYS = [old]
    sealed = crypto.encrypt("access-token-value")
    assert "access-token-value" not in sealed
    settings.BFF_TOKEN_ENCRYPTION_KEYS = [new, old]
    assert crypto.decrypt(sealed) == "access-token-value"
    rotated = crypto.rotate(sealed)
    settings.BFF_TOKEN_ENCRYPTION_KEYS = [new]
    assert crypto.decrypt(rotated) == "access-token-value"


def test_derived_key_is_the_fallback(settings):
    settings.BFF_TOKEN_ENCRYPTION_KEYS = []
    assert crypto.decrypt(crypto.encrypt("x")) == "x"


def test_pickled_record_holds_no_plaintext_token():
    import pickle
    from datetime import UTC, datetime

    from bff.models import TokenSession
    from oidc.tokens import TokenSet

    record = TokenSession()
    record.set_tokens(TokenSet("plain-access", "plain-refresh", "plain-id", 1000.0, 2000.0))
    assert record.tokens.access_token == "plain-access"  # decrypted and kept on the instance
    blob = pickle.dumps(record)
    for plain in (b"plain-access", b"plain-refresh", b"plain-id"):
        assert plain not in blob
    assert pickle.loads(blob).tokens.refresh_token == "plain-refresh"
    assert record.access_issued_at == datetime.fromtimestamp(1000.0, tz=UTC)
