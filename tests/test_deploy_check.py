"""`manage.py check --deploy` passes with production settings and flags the demo defaults."""

from __future__ import annotations

import os
import subprocess
import sys

from cryptography.fernet import Fernet

from tests.support.servers import ROOT

PRODUCTION = {
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
    "DJANGO_ALLOWED_HOSTS": "app.example.com",
    "DJANGO_HTTPS": "true",
    "OIDC_ISSUER": "https://login.example.com",
    "OIDC_CLIENT_ID": "bff",
    "OIDC_CLIENT_SECRET": "secret",
    "BFF_TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "DATABASE_URL": "postgres://bff@db.internal:5432/bff",
}


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OIDC_", "BFF_"))}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_passes_with_production_settings():
    result = check_deploy(PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_demo_wiring_and_derived_keys():
    result = check_deploy({})
    assert result.returncode != 0
    for check_id in ("bff.E001", "bff.W001", "security.W009"):
        assert check_id in result.stderr
