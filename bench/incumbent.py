"""The incumbent rung (bench/incumbent_site): its virtualenv, its server, its signed-in session.

mozilla-django-oidc + django-revproxy are not project dependencies: ensure_venv() installs
them (pinned, below) into var/bench-incumbent-venv the first time a benchmark needs them,
with pip from PyPI, and again only when the pins change. The site is served like the floor
and the BFF (tests.support.servers.Server: gunicorn gthread, the same workers and threads),
on the stack's provider (its client, a redirect URI registered for the incumbent's port),
and signs in through the provider's pages like a browser.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import requests

from bench.sessions import USER_EMAIL, USER_PASSWORD
from bench.workers import counting_env
from tests.support.idp import provider_sign_in
from tests.support.servers import ROOT, Server

VENV = ROOT / "var" / "bench-incumbent-venv"
REQUIREMENTS = (
    "Django>=5.2,<5.3",
    "mozilla-django-oidc==5.0.2",
    "django-revproxy==0.13.0",
    "gunicorn==27.0.1",  # the BFF's (pyproject.toml: gunicorn>=22)
    "psycopg[binary]>=3.2,<4",
    "redis>=5,<7",
)
SETTINGS_MODULE = "bench.incumbent_site.settings"
CALLBACK_PATH = "/oidc/callback/"
API_PATH = "/api/bench"


def python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> Path:
    """The incumbent's interpreter, its virtualenv made (or remade) for REQUIREMENTS."""
    stamp = VENV / ".requirements"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if stamp.is_file() and stamp.read_text() == wanted and python().exists():
        return python()
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        + list(REQUIREMENTS),
        check=True,
    )
    stamp.write_text(wanted)
    return python()


def redirect_uri(port: int) -> str:
    return f"http://127.0.0.1:{port}{CALLBACK_PATH}"


def provider_env(issuer: str, client_id: str, client_secret: str) -> dict[str, str]:
    """The provider's endpoints (from its discovery document) and the client's credentials."""
    meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    return {
        "INCUMBENT_OIDC_CLIENT_ID": client_id,
        "INCUMBENT_OIDC_CLIENT_SECRET": client_secret,
        "INCUMBENT_OIDC_AUTHORIZATION_ENDPOINT": meta["authorization_endpoint"],
        "INCUMBENT_OIDC_TOKEN_ENDPOINT": meta["token_endpoint"],
        "INCUMBENT_OIDC_USERINFO_ENDPOINT": meta["userinfo_endpoint"],
        "INCUMBENT_OIDC_JWKS_ENDPOINT": meta["jwks_uri"],
    }


class Incumbent:
    """One incumbent server on one storage configuration, with a signed-in session."""

    def __init__(
        self,
        name: str,
        root: Path,
        *,
        port: int,
        database_url: str,
        upstream_url: str,
        oidc_env: dict[str, str],
        workers: int,
        threads: int,
        cache_url: str = "",
    ) -> None:
        self.count_dir = root / f"counts-{name}"
        env = {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "INCUMBENT_DATABASE_URL": database_url,
            "INCUMBENT_UPSTREAM_URL": upstream_url,
            **oidc_env,
            **counting_env(self.count_dir),
        }
        if cache_url:
            env["INCUMBENT_CACHE_URL"] = cache_url
        self.server = Server(
            name=name,
            settings_module=SETTINGS_MODULE,
            workdir=root / name,
            port=port,
            workers=workers,
            threads=threads,
            ready_path="/healthz",
            env=env,
            python=str(ensure_venv()),
        )
        self.cookie = ""

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def start(self, *, migrate: bool = True) -> Incumbent:
        """Migrate its database (unless shared and done), start it, sign in."""
        # Counts of the workers of an earlier start would read as workers that served nothing.
        for stale in self.count_dir.iterdir():
            stale.unlink()
        if migrate:
            subprocess.run(
                [self.server.python, "-m", "django", "migrate", "--noinput", "-v", "0"],
                cwd=ROOT,
                env=self.server.env,
                check=True,
                capture_output=True,
            )
        self.server.start()
        self.cookie = self.sign_in()
        return self

    def sign_in(self) -> str:
        """Sign in through mozilla-django-oidc and the provider's pages; the sessionid value."""
        browser = requests.Session()
        try:
            start = browser.get(
                f"{self.url}/oidc/authenticate/?{urlencode({'next': '/healthz'})}",
                allow_redirects=False,
            )
            if start.status_code != 302:
                raise RuntimeError(f"incumbent sign-in answered {start.status_code}")
            back = provider_sign_in(browser, start.headers["Location"], USER_EMAIL, USER_PASSWORD)
            done = browser.get(back.headers["Location"], allow_redirects=False)
            cookie = browser.cookies.get("sessionid")
            if done.status_code != 302 or done.headers.get("Location") != "/healthz" or not cookie:
                raise RuntimeError(
                    f"incumbent callback answered {done.status_code}"
                    f" {done.headers.get('Location')}: {done.text[:300]}"
                )
            return cookie
        finally:
            browser.close()

    def api_headers(self) -> dict[str, str]:
        return {"Cookie": f"sessionid={self.cookie}"}

    def stop(self) -> None:
        self.server.stop()
