"""Pushed authorization requests (RFC 9126) at the built-in provider (idp/par.py), with the
BFF as its client: the provider started with IDP_REQUIRE_PAR refuses a plain request, and
the BFF, reading require_pushed_authorization_requests from discovery, signs in anyway."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from bff.models import TokenSession
from oidc.provider import reset_providers
from tests.conftest import CLIENT_ID, CLIENT_SECRET, USER_EMAIL, USER_PASSWORD, issuer_of, sign_in
from tests.idp.flow import pkce_pair
from tests.support.idp import provider_sign_in, start_idp
from tests.support.servers import Server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def idp_par(live_server, tmp_path_factory) -> Iterator[Server]:
    server = start_idp(
        tmp_path_factory.mktemp("idp-par"),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"{live_server.url}/auth/callback/oidc"],
        user_email=USER_EMAIL,
        user_password=USER_PASSWORD,
        env={"IDP_REQUIRE_PAR": "true", "IDP_PAR_SECONDS": "120"},
    )
    yield server
    server.stop()


@pytest.fixture
def bff(settings, idp_par, live_server) -> Iterator[str]:
    settings.OIDC_PROVIDERS = {
        "oidc": {
            "issuer": issuer_of(idp_par),
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    }
    reset_providers()
    yield live_server.url
    reset_providers()


def metadata(idp: Server) -> dict:
    return requests.get(f"{issuer_of(idp)}/.well-known/openid-configuration", timeout=10).json()


def authorization_params(bff: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": f"{bff}/auth/callback/oidc",
        "scope": "openid",
        "state": "s" * 43,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


def test_discovery_advertises_the_par_endpoint_and_the_requirement(idp_par):
    document = metadata(idp_par)
    assert document["pushed_authorization_request_endpoint"] == f"{issuer_of(idp_par)}/par/"
    assert document["require_pushed_authorization_requests"] is True


def test_bff_signs_in_with_a_pushed_request(bff, idp_par):
    with requests.Session() as browser:
        started = browser.get(f"{bff}/auth/login?next=/", allow_redirects=False)
        assert started.status_code == 302, started.text
        query = parse_qs(urlsplit(started.headers["Location"]).query)
        assert set(query) == {"client_id", "request_uri"}
        back = provider_sign_in(browser, started.headers["Location"], USER_EMAIL, USER_PASSWORD)
        done = browser.get(back.headers["Location"], allow_redirects=False)
        assert done.status_code == 302, done.text
        assert TokenSession.objects.live().count() == 1


def test_a_plain_authorization_request_is_refused(bff, idp_par):
    with requests.Session() as browser:
        sign_in(browser, bff)  # a provider session, so the refusal is not a sign-in page
        plain = f"{metadata(idp_par)['authorization_endpoint']}?"
        refused = browser.get(plain + urlencode(authorization_params(bff)), allow_redirects=False)
    assert refused.status_code == 400
    assert "only pushed authorization requests" in refused.text


def test_push_needs_client_authentication_and_a_registered_redirect_uri(bff, idp_par):
    endpoint = metadata(idp_par)["pushed_authorization_request_endpoint"]
    params = authorization_params(bff)
    anonymous = requests.post(endpoint, data=params, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    wrong = requests.post(endpoint, data=params, auth=(CLIENT_ID, "not-the-secret"), timeout=10)
    assert wrong.status_code == 401
    elsewhere = {**params, "redirect_uri": "https://evil.example/cb"}
    refused = requests.post(endpoint, data=elsewhere, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    pushed = requests.post(endpoint, data=params, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)
    assert pushed.status_code == 201
    assert pushed.json()["expires_in"] == 120
    assert pushed.json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")


def test_an_unknown_request_uri_is_a_page(bff, idp_par):
    with requests.Session() as browser:
        sign_in(browser, bff)
        unknown = {"client_id": CLIENT_ID, "request_uri": "urn:ietf:params:oauth:request_uri:x"}
        url = f"{metadata(idp_par)['authorization_endpoint']}?{urlencode(unknown)}"
        page = browser.get(url, allow_redirects=False)
    assert page.status_code == 400
    assert "expired or is unknown" in page.text


def test_prompt_login_keeps_the_way_back_pushed(bff, idp_par):
    """prompt=login sends the person to sign in again; the URL to come back to is a new
    pushed request (without the prompt), not the parameters in the clear."""
    document = metadata(idp_par)
    params = {**authorization_params(bff), "prompt": "login"}
    pushed = requests.post(
        document["pushed_authorization_request_endpoint"],
        data=params,
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    ).json()
    reference = {"client_id": CLIENT_ID, "request_uri": pushed["request_uri"]}
    with requests.Session() as browser:
        sign_in(browser, bff)  # signed in at the provider already
        authorize = f"{document['authorization_endpoint']}?{urlencode(reference)}"
        to_login = browser.get(authorize, allow_redirects=False)
        assert to_login.status_code == 302
        (next_url,) = parse_qs(urlsplit(to_login.headers["Location"]).query)["next"]
        assert set(parse_qs(urlsplit(next_url).query)) == {"client_id", "request_uri"}
        back = provider_sign_in(browser, authorize, USER_EMAIL, USER_PASSWORD)
    answer = parse_qs(urlsplit(back.headers["Location"]).query)
    assert back.headers["Location"].startswith(params["redirect_uri"] + "?")
    assert answer["state"] == [params["state"]] and "code" in answer
