"""Settings of the built-in OpenID Provider: a separate server with its own database and cookies.

Run it with DJANGO_SETTINGS_MODULE=idp.settings (manage.py) or `gunicorn idp.wsgi`.
Every IDP_* environment variable is read here, once.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import environ

from idp.keys import load_or_create_private_key_pem

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()

DEBUG = env.bool("IDP_DEBUG", default=False)
# The insecure default only serves development; `check --deploy` flags it (security.W009).
SECRET_KEY = env("IDP_SECRET_KEY", default="django-insecure-idp-development-only-change-me")

# The issuer is the provider's identity: `iss` of every token, and the base of the discovery
# document. The OAuth endpoints are mounted at its path, so discovery lives at
# {IDP_ISSUER}/.well-known/openid-configuration whatever the path is.
IDP_ISSUER = env("IDP_ISSUER", default="http://localhost:8001/o").rstrip("/")
_issuer = urlsplit(IDP_ISSUER)
IDP_ISSUER_ORIGIN = f"{_issuer.scheme}://{_issuer.netloc}"
IDP_OAUTH_PREFIX = _issuer.path.strip("/")

# The issuer's own host is always served: a provider that rejects its own issuer is useless.
ALLOWED_HOSTS = env.list("IDP_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
if _issuer.hostname and _issuer.hostname not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_issuer.hostname)
# Behind a TLS-terminating proxy the request looks like http; trusting the issuer's origin
# keeps CSRF checks working there without trusting forwarded headers.
CSRF_TRUSTED_ORIGINS = [IDP_ISSUER_ORIGIN]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
    "idp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "idp.urls"
WSGI_APPLICATION = "idp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("IDP_DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'idp.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes SQLite's write lock when a transaction starts, so concurrent token
    # requests queue up instead of failing with "database is locked" on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 600
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "idp.Account"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    # Client secrets only (OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"]); see idp/hashers.py.
    "idp.hashers.ClientSecretHasher",
]
# The provider's own cache holds the sign-in throttle's counters. The local-memory default
# counts per process: with several gunicorn workers or hosts, set a shared cache
# (redis://host:6379/1, pymemcache://host:11211) so the limits hold across all of them.
CACHES = {"default": env.cache("IDP_CACHE_URL", default="locmemcache://idp")}

# Sign-in throttle (idp/throttle.py): after this many failed sign-ins within the window, for
# one account (any letter case, known or not) or from one client IP, further attempts get a
# 429 with Retry-After for a whole window, without a password check.
IDP_SIGNIN_MAX_FAILURES_PER_ACCOUNT = env.int("IDP_SIGNIN_MAX_FAILURES_PER_ACCOUNT", default=5)
IDP_SIGNIN_MAX_FAILURES_PER_IP = env.int("IDP_SIGNIN_MAX_FAILURES_PER_IP", default=20)
IDP_SIGNIN_FAILURE_WINDOW_SECONDS = env.int("IDP_SIGNIN_FAILURE_WINDOW_SECONDS", default=15 * 60)

LOGIN_URL = "idp:login"
LOGIN_REDIRECT_URL = "idp:home"
LOGOUT_REDIRECT_URL = "idp:home"

# Own cookie names: browsers share cookies across the ports of one host, so the provider's
# session must never collide with the BFF's (bff_session) or anyone else's.
SESSION_COOKIE_NAME = "idp_session"
CSRF_COOKIE_NAME = "idp_csrftoken"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Secure cookies follow the issuer's scheme: on for an https issuer, off for the plain-http
# development and test servers (a Secure cookie would never come back over http).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _issuer.scheme == "https"
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- OAuth 2.0 / OpenID Connect (django-oauth-toolkit) -----------------------------------
IDP_SIGNING_KEY_FILE = Path(
    env("IDP_SIGNING_KEY_FILE", default=str(VAR_DIR / "idp-signing-key.pem"))
)
# Resource indicators (RFC 8707) a refresh grant may name: its access token then has that
# resource as its only audience. Any other resource is refused with invalid_target.
IDP_RESOURCE_INDICATORS = env.list("IDP_RESOURCE_INDICATORS", default=[])
# Audiences a token exchange (RFC 8693, idp/exchange.py) may mint access tokens for.
IDP_TOKEN_EXCHANGE_AUDIENCES = env.list("IDP_TOKEN_EXCHANGE_AUDIENCES", default=[])
IDP_ACCESS_TOKEN_SECONDS = env.int("IDP_ACCESS_TOKEN_SECONDS", default=900)
IDP_REFRESH_TOKEN_SECONDS = env.int("IDP_REFRESH_TOKEN_SECONDS", default=7 * 24 * 3600)
IDP_REFRESH_GRACE_SECONDS = env.int("IDP_REFRESH_GRACE_SECONDS", default=30)
IDP_REUSE_PROTECTION = env.bool("IDP_REUSE_PROTECTION", default=True)
IDP_ACCESS_TOKEN_AUDIENCE = env("IDP_ACCESS_TOKEN_AUDIENCE", default="demo-api")
IDP_ALLOW_HTTP = env.bool("IDP_ALLOW_HTTP", default=True)
# Seconds a just-finished sign-in still counts as "now" against a client's max_age (the round
# trip from the sign-in page back to the authorization endpoint): max_age=0 cannot loop.
IDP_MAX_AGE_GRACE_SECONDS = env.int("IDP_MAX_AGE_GRACE_SECONDS", default=10)
# Pushed authorization requests (RFC 9126, idp/par.py): how long a request_uri lives, and
# whether every authorization request must be pushed (discovery then says so).
IDP_PAR_SECONDS = env.int("IDP_PAR_SECONDS", default=300)
IDP_REQUIRE_PAR = env.bool("IDP_REQUIRE_PAR", default=False)
# private_key_jwt (idp/client_assertion.py): clients that authenticate only with a JWT signed
# by their key, and where the provider reads their public keys: "bff=https://app/auth/jwks.json".
IDP_CLIENT_JWKS_URIS = env.dict("IDP_CLIENT_JWKS_URIS", default={})
IDP_CLIENT_ASSERTION_MAX_SECONDS = env.int("IDP_CLIENT_ASSERTION_MAX_SECONDS", default=300)
_TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
if IDP_CLIENT_JWKS_URIS:
    _TOKEN_AUTH_METHODS.append("private_key_jwt")

# Named because idp.models.GrantAuthentication refers to DOT's (swappable) grant model.
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": IDP_ISSUER,
    "OIDC_RSA_PRIVATE_KEY": load_or_create_private_key_pem(IDP_SIGNING_KEY_FILE),
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": _TOKEN_AUTH_METHODS,
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": [
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": _TOKEN_AUTH_METHODS,
    "SCOPES": {
        "openid": "Sign you in",
        "profile": "Your name",
        "email": "Your email address",
        "offline_access": "Stay signed in",
    },
    "DEFAULT_SCOPES": ["openid"],
    # PKCE on every authorization request, S256 only (RFC 9700 2.1.1).
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    # RFC 9207: `iss` on authorization responses (mix-up defense); discovery advertises it.
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    # Tokens stay in plaintext at rest on purpose: within the grace period DOT answers a
    # replayed refresh token with the pair it already issued, which it can only read back
    # when stored; hashed storage would return empty tokens there.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": False,
    "ACCESS_TOKEN_EXPIRE_SECONDS": IDP_ACCESS_TOKEN_SECONDS,
    "ID_TOKEN_EXPIRE_SECONDS": IDP_ACCESS_TOKEN_SECONDS,
    "ACCESS_TOKEN_GENERATOR": "idp.tokens.generate_access_token",
    # Without it oauthlib would use the access token generator for refresh tokens as well.
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    "ROTATE_REFRESH_TOKEN": True,
    # DOT counts this from the expiry of the token's access token (and cleartokens uses it);
    # the validator also enforces it from each refresh token's own creation (rotation).
    "REFRESH_TOKEN_EXPIRE_SECONDS": IDP_REFRESH_TOKEN_SECONDS,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": IDP_REFRESH_GRACE_SECONDS,
    "REFRESH_TOKEN_REUSE_PROTECTION": IDP_REUSE_PROTECTION,
    "OAUTH2_VALIDATOR_CLASS": "idp.validators.IdpValidator",
    # DOT's OpenID Connect server plus the token-exchange grant (RFC 8693).
    "OIDC_SERVER_CLASS": "idp.exchange.ExchangeServer",
    "CLIENT_SECRET_HASHER": "pbkdf2_sha256_client",
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"] if IDP_ALLOW_HTTP else ["https"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    # A valid id_token_hint of the signed-in person is enough: no "are you sure?" page.
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    # Logout ends the provider session only. DOT would otherwise delete every token of the
    # person, signing out their other devices' BFF sessions; a client revokes its own
    # refresh token at the revocation endpoint.
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False,
    # prompt=create sends people to the registration page and back into the flow.
    "OIDC_RP_INITIATED_REGISTRATION_ENABLED": True,
    "OIDC_RP_INITIATED_REGISTRATION_URL": "idp:register",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # Without this, errors are lost when DEBUG is off (Django only mails them to ADMINS).
    "root": {"handlers": ["console"], "level": env("IDP_LOG_LEVEL", default="WARNING")},
}
