"""GET /auth/jwks.json: the public halves of our private_key_jwt keys, never a private part;
and a client key that cannot be used stops the configuration with a message."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from oidc.client_keys import PRIVATE_JWK_MEMBERS
from oidc.conf import oidc_settings

# joserfc warns when it reads the deliberately weak key that the configuration refuses.
pytestmark = pytest.mark.filterwarnings("ignore:Key size should be")

RSA = RSAKey.generate_key(2048, private=True)
EC = ECKey.generate_key("P-256", private=True)
OKP = OKPKey.generate_key("Ed25519", private=True)
PEM = RSA.as_pem(private=True).decode()
WEAK_PEM = (
    rsa.generate_private_key(public_exponent=65537, key_size=1024)
    .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    .decode()
)


def provider(**changes: str) -> dict[str, str]:
    return {"issuer": "https://op.example", "client_id": "bff", **changes}


def jwks(client) -> dict:
    response = client.get(reverse("accounts:jwks"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "public, max-age=300"
    return response.json()


def test_no_client_key_configured_is_404(client, settings):
    settings.OIDC_PROVIDERS = {"oidc": provider(client_secret="s")}
    assert client.get(reverse("accounts:jwks")).status_code == 404


def test_jwks_publishes_every_configured_public_key_and_no_private_part(client, settings):
    key_set = {"keys": [EC.as_dict(private=True, kid="next"), OKP.as_dict(private=True)]}
    settings.OIDC_PROVIDERS = {
        "corp": provider(client_private_key=PEM, client_key_id="corp-1"),
        "partner": provider(client_private_key=json.dumps(key_set)),
        # The same key for a second provider is published once.
        "again": provider(client_private_key=PEM.replace("\n", "\\n"), client_key_id="corp-1"),
    }
    keys = jwks(client)["keys"]
    assert [(k["kid"], k["kty"], k["alg"], k["use"]) for k in keys] == [
        ("corp-1", "RSA", "RS256", "sig"),
        ("next", "EC", "ES256", "sig"),
        (OKP.thumbprint(), "OKP", "EdDSA", "sig"),
    ]
    for key in keys:
        assert not PRIVATE_JWK_MEMBERS & set(key), key
        assert "key_ops" not in key
    body = json.dumps(keys)
    for private in (RSA, EC, OKP):
        assert private.as_dict(private=True)["d"] not in body
    assert keys[0]["n"] == RSA.as_dict()["n"]


def test_jwks_needs_no_sign_in_and_takes_only_get(client, settings):
    settings.OIDC_PROVIDERS = {"oidc": provider(client_private_key=PEM)}
    assert client.get(reverse("accounts:jwks")).status_code == 200
    assert client.post(reverse("accounts:jwks")).status_code == 405


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"client_auth_method": "private_key_jwt"}, "needs a private key"),
        ({"client_private_key": "not a key"}, "neither a PEM key nor a JSON JWK"),
        ({"client_private_key": RSA.as_pem(private=False).decode()}, "is a public key"),
        ({"client_private_key": json.dumps(EC.as_dict(private=False))}, "is a public key"),
        (
            {"client_private_key": json.dumps(OctKey.generate_key(256).as_dict())},
            "not a shared secret",
        ),
        ({"client_private_key": '{"keys": []}'}, "holds no keys"),
        (
            {"client_private_key": json.dumps(EC.as_dict(private=True) | {"alg": "HS256"})},
            "does not fit the key",
        ),
        ({"client_private_key": '{"kty": "RSA"}'}, "cannot be read"),
        (
            {"client_private_key": WEAK_PEM},
            "at least 2048 bits",
        ),
    ],
)
def test_an_unusable_client_key_says_what_to_set(settings, changes, message):
    settings.OIDC_PROVIDERS = {"oidc": provider(**changes)}
    with pytest.raises(ImproperlyConfigured, match=message) as raised:
        oidc_settings.providers()
    assert "OIDC_CLIENT_PRIVATE_KEY" in str(raised.value)


def test_the_private_key_stays_out_of_the_configuration_repr(settings):
    settings.OIDC_PROVIDERS = {"oidc": provider(client_private_key=PEM)}
    config = oidc_settings.providers()["oidc"]
    assert "PRIVATE KEY" not in repr(config)
