"""A cheaper PBKDF2 variant for OAuth client secrets, never for people's passwords."""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class ClientSecretHasher(PBKDF2PasswordHasher):
    """PBKDF2-SHA256 with fewer iterations, used through DOT's CLIENT_SECRET_HASHER.

    A confidential client authenticates on every token request, refreshes included. With
    Django's password work factor (about 0.4 s of CPU per check) the secret check would cost
    more than everything else a refresh does. Client secrets are long random strings, not
    human-chosen passwords, so key stretching adds little; salting and hashing still keep
    them unreadable in the database.
    """

    algorithm = "pbkdf2_sha256_client"
    iterations = 10_000
