"""Every way a request can fail to prove who it is gets 401 with a Bearer challenge."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import RSAAlgorithm

from tests.demo.client import bearer, graphql
from tests.demo.issuer import DROP, FakeIssuer, ec_key, rsa_key
from tests.support.servers import Server

ATTACKER = rsa_key()
P521 = ec_key(ec.SECP521R1())

# Each case: (Authorization header value or None, expected part of the error description).
Case = Callable[[FakeIssuer, str], tuple[str | None, str]]


def _now(issuer: FakeIssuer) -> int:
    return issuer.claims()["iat"]


CASES: dict[str, Case] = {
    "missing header": lambda iss, sub: (None, "missing"),
    "wrong scheme": lambda iss, sub: (f"Basic {iss.mint(sub)}", "scheme"),
    "empty bearer": lambda iss, sub: ("Bearer ", "malformed"),
    "not a jwt": lambda iss, sub: ("Bearer not-a-jwt", "malformed"),
    "garbage segments": lambda iss, sub: ("Bearer a.b.c", "malformed"),
    "two tokens": lambda iss, sub: (f"Bearer {iss.mint(sub)} {iss.mint(sub)}", "malformed"),
    "expired": lambda iss, sub: (
        f"Bearer {iss.mint(sub, exp=_now(iss) - 60, iat=_now(iss) - 600)}",
        "expired",
    ),
    "issued in the future": lambda iss, sub: (
        f"Bearer {iss.mint(sub, iat=_now(iss) + 300, exp=_now(iss) + 600)}",
        "not yet valid",
    ),
    "not before in the future": lambda iss, sub: (
        f"Bearer {iss.mint(sub, nbf=_now(iss) + 300)}",
        "not yet valid",
    ),
    "wrong audience": lambda iss, sub: (f"Bearer {iss.mint(sub, aud='other-api')}", "audience"),
    "no audience": lambda iss, sub: (f"Bearer {iss.mint(sub, aud=DROP)}", "aud"),
    "wrong issuer": lambda iss, sub: (
        f"Bearer {iss.mint(sub, iss='http://evil.example/o')}",
        "issuer",
    ),
    "issuer with trailing slash": lambda iss, sub: (
        f"Bearer {iss.mint(sub, iss=iss.issuer + '/')}",
        "issuer",
    ),
    "no sub": lambda iss, sub: (f"Bearer {iss.mint(sub, sub=DROP)}", "sub"),
    "empty sub": lambda iss, sub: (f"Bearer {iss.mint(sub, sub='')}", "sub"),
    "no exp": lambda iss, sub: (f"Bearer {iss.mint(sub, exp=DROP)}", "exp"),
    "no iat": lambda iss, sub: (f"Bearer {iss.mint(sub, iat=DROP)}", "iat"),
    "bad signature": lambda iss, sub: (f"Bearer {iss.mint(sub, key=ATTACKER)}", "signature"),
    "tampered claims": lambda iss, sub: (
        "Bearer " + _swap_payload(iss.mint(sub), iss.mint("someone-else")),
        "signature",
    ),
    "alg none": lambda iss, sub: (f"Bearer {iss.mint_alg_none(sub)}", "algorithm"),
    "HS256 keyed with the public key": lambda iss, sub: (
        f"Bearer {iss.mint_hs256_with_public_key(sub)}",
        "algorithm",
    ),
    "ES512 not allowed": lambda iss, sub: (
        f"Bearer {iss.mint(sub, kid='k-ec', alg='ES512', key=P521)}",
        "algorithm",
    ),
    "alg other than the key's": lambda iss, sub: (
        f"Bearer {iss.mint(sub, kid='k1', alg='PS256')}",
        "unknown key",
    ),
    "RSA alg for an EC key": lambda iss, sub: (
        f"Bearer {iss.mint(sub, kid='k-ec', alg='RS256', key=ATTACKER)}",
        "unknown key",
    ),
    "unknown kid": lambda iss, sub: (f"Bearer {iss.mint(sub, kid='nope', key=ATTACKER)}", "key"),
    "embedded jwk header": lambda iss, sub: (
        "Bearer "
        + iss.mint(
            sub,
            kid="attacker",
            key=ATTACKER,
            headers={"jwk": RSAAlgorithm.to_jwk(ATTACKER.public_key(), as_dict=True)},
        ),
        "key",
    ),
    "jku header with a known kid": lambda iss, sub: (
        f"Bearer {iss.mint(sub, key=ATTACKER, headers={'jku': 'http://evil.example/jwks'})}",
        "signature",
    ),
}


def _swap_payload(token: str, other: str) -> str:
    header, _, signature = token.split(".")
    return ".".join([header, other.split(".")[1], signature])


def _call(demo: Server, endpoint: str, authorization: str | None) -> requests.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    if endpoint == "rest GET":
        return requests.get(f"{demo.url}/rest/items", headers=headers, timeout=10)
    if endpoint == "rest POST":
        return requests.post(
            f"{demo.url}/rest/items", json={"name": "forged"}, headers=headers, timeout=10
        )
    return graphql(demo, 'mutation { addItem(name: "forged") { id } }', headers=headers)


@pytest.mark.parametrize("endpoint", ["rest GET", "rest POST", "graphql"])
@pytest.mark.parametrize("case", list(CASES))
def test_rejected_with_401_and_challenge(
    demo: Server, issuer: FakeIssuer, case: str, endpoint: str
) -> None:
    sub = f"victim-{case}-{endpoint}".replace(" ", "-")
    authorization, expected = CASES[case](issuer, sub)

    response = _call(demo, endpoint, authorization)

    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "invalid_token"
    assert expected in body["error_description"]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="demo-api", error="invalid_token", ')
    assert f'error_description="{body["error_description"]}"' in challenge
    # Nothing was written for the subject the forged token named.
    listed = requests.get(f"{demo.url}/rest/items", headers=bearer(issuer.mint(sub)), timeout=10)
    assert listed.json() == {"items": []}


def test_descriptions_never_echo_the_token(demo: Server) -> None:
    response = requests.get(
        f"{demo.url}/rest/items", headers={"Authorization": 'Bearer "quoted"'}, timeout=10
    )
    assert response.status_code == 401
    assert "quoted" not in response.headers["WWW-Authenticate"]
