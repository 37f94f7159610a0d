"""The environment contract: one provider or several, read by config/settings.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from joserfc.jwk import RSAKey

ROOT = Path(__file__).resolve().parent.parent
SHOW = """
import json, django
django.setup()
from oidc.conf import oidc_settings
print(json.dumps({n: c.__dict__ for n, c in oidc_settings.providers().items()}))
"""


def show(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Load the production settings with only `env` set of the OIDC_/DJANGO_ variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-c", SHOW],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def providers_from(env: dict[str, str]) -> dict:
    completed = show(env)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_several_providers_from_the_environment():
    providers = providers_from(
        {
            "OIDC_PROVIDERS": "corp,google-work",
            "OIDC_CORP_ISSUER": "https://sso.corp.example/realms/main",
            "OIDC_CORP_CLIENT_ID": "bff",
            "OIDC_CORP_CLIENT_SECRET": "s1",
            "OIDC_CORP_DISPLAY_NAME": "Corp SSO",
            "OIDC_CORP_USERINFO": "required",
            "OIDC_GOOGLE_WORK_ISSUER": "https://accounts.google.com",
            "OIDC_GOOGLE_WORK_CLIENT_ID": "g",
            "OIDC_GOOGLE_WORK_CLIENT_SECRET": "s2",
            "OIDC_GOOGLE_WORK_SCOPES": "openid email profile",
            "OIDC_GOOGLE_WORK_AUTH_PARAMS": "access_type=offline&prompt=consent",
            "OIDC_GOOGLE_WORK_CLIENT_AUTH_METHOD": "client_secret_post",
        }
    )
    assert list(providers) == ["corp", "google-work"]
    corp, google = providers["corp"], providers["google-work"]
    assert (corp["issuer"], corp["client_id"], corp["client_secret"]) == (
        "https://sso.corp.example/realms/main",
        "bff",
        "s1",
    )
    assert (corp["display_name"], corp["userinfo"]) == ("Corp SSO", "required")
    assert corp["scopes"] == ["openid", "profile", "email", "offline_access"]
    assert google["scopes"] == ["openid", "email", "profile"]
    assert google["auth_params"] == {"access_type": "offline", "prompt": "consent"}
    assert (google["userinfo"], google["client_auth_method"]) == ("auto", "client_secret_post")


def test_the_single_provider_variables_keep_working():
    providers = providers_from(
        {
            "OIDC_ISSUER": "https://login.example.com",
            "OIDC_CLIENT_ID": "bff",
            "OIDC_CLIENT_SECRET": "s",
            "OIDC_PROVIDER_NAME": "main",
            "OIDC_USERINFO": "never",
            "OIDC_AUTH_PARAMS": "audience=https://api.example.com",
        }
    )
    assert list(providers) == ["main"]
    assert providers["main"]["userinfo"] == "never"
    assert providers["main"]["auth_params"] == {"audience": "https://api.example.com"}


def test_a_bad_userinfo_mode_says_what_to_set():
    completed = show(
        {"OIDC_ISSUER": "https://login.example.com", "OIDC_CLIENT_ID": "bff", "OIDC_USERINFO": "x"}
    )
    assert completed.returncode != 0
    assert "OIDC_USERINFO" in completed.stderr and "auto, never, required" in completed.stderr


def test_private_key_jwt_and_par_from_the_environment():
    """A PEM on one line of an env file (\\n escapes), its kid, and PAR, per provider."""
    pem = RSAKey.generate_key(2048, private=True).as_pem(private=True).decode()
    providers = providers_from(
        {
            "OIDC_PROVIDERS": "corp",
            "OIDC_CORP_ISSUER": "https://sso.corp.example",
            "OIDC_CORP_CLIENT_ID": "bff",
            "OIDC_CORP_CLIENT_AUTH_METHOD": "private_key_jwt",
            "OIDC_CORP_CLIENT_PRIVATE_KEY": pem.replace("\n", "\\n"),
            "OIDC_CORP_CLIENT_KEY_ID": "bff-2026-01",
            "OIDC_CORP_USE_PAR": "true",
        }
    )
    corp = providers["corp"]
    assert corp["client_auth_method"] == "private_key_jwt"
    assert corp["client_key_id"] == "bff-2026-01"
    assert corp["use_par"] is True
    assert corp["client_private_key"].startswith("-----BEGIN PRIVATE KEY-----")


def test_private_key_jwt_without_a_key_says_what_to_set():
    completed = show(
        {
            "OIDC_ISSUER": "https://login.example.com",
            "OIDC_CLIENT_ID": "bff",
            "OIDC_CLIENT_AUTH_METHOD": "private_key_jwt",
        }
    )
    assert completed.returncode != 0
    assert "OIDC_CLIENT_PRIVATE_KEY" in completed.stderr
