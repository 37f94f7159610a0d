"""Sign-in against a provider whose ID tokens are wrong in every way the spec forbids."""

from __future__ import annotations

import time

import pytest
import requests

from bff.models import TokenSession
from tests.accounts.conftest import (
    assert_sign_in_rejected,
    failure_reasons,
    sign_in,
    signed_in,
)
from tests.support.hostile_provider import (
    DELETE,
    SigningKey,
    hs256_with_public_key,
    tamper_signature,
    unsigned,
)

pytestmark = pytest.mark.django_db(transaction=True)

NOW = int(time.time())

CLAIM_MUTATIONS = {
    "wrong_iss": ({"iss": "https://evil.example"}, "id_token:wrong issuer"),
    "wrong_aud": ({"aud": "someone-else"}, "id_token:wrong audience"),
    "missing_aud": ({"aud": DELETE}, "id_token:aud missing or malformed"),
    "missing_sub": ({"sub": DELETE}, "id_token:sub missing"),
    "empty_sub": ({"sub": ""}, "id_token:sub malformed"),
    "missing_iat": ({"iat": DELETE}, "id_token:iat missing or not a number"),
    "missing_exp": ({"exp": DELETE}, "id_token:exp missing or not a number"),
    "expired": ({"exp": NOW - 3600, "iat": NOW - 7200}, "id_token:expired"),
    "iat_far_in_future": ({"iat": NOW + 3600, "exp": NOW + 7200}, "id_token:issued in the future"),
    "wrong_nonce": ({"nonce": "not-the-nonce-we-sent"}, "id_token:wrong nonce"),
    "missing_nonce": ({"nonce": DELETE}, "id_token:wrong nonce"),
    "untrusted_extra_audience": (
        {"aud": ["bff-hostile", "another-client"], "azp": "bff-hostile"},
        "id_token:untrusted additional audience",
    ),
    "wrong_azp": ({"azp": "another-client"}, "id_token:wrong azp"),
}


@pytest.mark.parametrize("mutation", CLAIM_MUTATIONS, ids=list(CLAIM_MUTATIONS))
def test_id_token_with_bad_claims_is_rejected(hostile, bff, browser, mutation):
    changes, reason = CLAIM_MUTATIONS[mutation]
    hostile.mutate_id_token(**changes)
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, reason=reason)


def test_several_audiences_without_azp_are_rejected(hostile, bff, browser, settings):
    settings.OIDC_PROVIDERS = {
        "hostile": {**settings.OIDC_PROVIDERS["hostile"], "trusted_audiences": ["api"]}
    }
    hostile.mutate_id_token(aud=["bff-hostile", "api"])
    response = sign_in(browser, bff)
    assert_sign_in_rejected(
        response, browser, bff, hostile, reason="id_token:azp required with several audiences"
    )


def test_trusted_extra_audience_with_our_azp_is_accepted(hostile, bff, browser, settings):
    settings.OIDC_PROVIDERS = {
        "hostile": {**settings.OIDC_PROVIDERS["hostile"], "trusted_audiences": ["api"]}
    }
    hostile.mutate_id_token(aud=["bff-hostile", "api"], azp="bff-hostile")
    assert sign_in(browser, bff).status_code == 302
    assert signed_in(browser, bff)


def test_tampered_signature_is_rejected(hostile, bff, browser):
    hostile.id_token_hook = lambda claims, header: tamper_signature(hostile.sign(claims, header))
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="id_token:bad signature")


def test_token_signed_by_a_key_not_in_the_jwks_is_rejected(hostile, bff, browser):
    stranger = SigningKey.generate(hostile.active_key.kid)
    hostile.id_token_hook = lambda claims, header: hostile.sign(claims, header, stranger)
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="id_token:bad signature")


def test_alg_none_is_rejected(hostile, bff, browser):
    hostile.id_token_hook = unsigned
    response = sign_in(browser, bff)
    assert_sign_in_rejected(
        response, browser, bff, hostile, reason="id_token:algorithm 'none' not allowed"
    )


def test_hs256_keyed_with_the_public_key_is_rejected(hostile, bff, browser):
    hostile.id_token_hook = lambda claims, header: hs256_with_public_key(
        header, claims, hostile.active_key
    )
    response = sign_in(browser, bff)
    assert_sign_in_rejected(
        response, browser, bff, hostile, reason="id_token:algorithm 'HS256' not allowed"
    )


def test_hs256_is_rejected_even_when_the_provider_advertises_it(hostile, bff, browser):
    hostile.discovery_overrides["id_token_signing_alg_values_supported"] = ["RS256", "HS256"]
    hostile.id_token_hook = lambda claims, header: hs256_with_public_key(
        header, claims, hostile.active_key
    )
    response = sign_in(browser, bff)
    assert_sign_in_rejected(
        response, browser, bff, hostile, reason="id_token:algorithm 'HS256' not allowed"
    )


def test_embedded_jwk_header_is_not_trusted(hostile, bff, browser):
    """A token carrying its own key (`jwk` header) must still verify against the JWKS."""
    attacker = SigningKey.generate(hostile.active_key.kid)
    hostile.id_token_hook = lambda claims, header: hostile.sign(
        claims, {**header, "jwk": attacker.public_jwk}, attacker
    )
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="id_token:bad signature")


def test_valid_id_token_signs_in(hostile, bff, browser):
    response = sign_in(browser, bff)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert signed_in(browser, bff)
    record = TokenSession.objects.live().get()
    assert record.subject == hostile.subject
    assert record.sid == hostile.issued[-1]["sid"]


def test_rotated_key_with_new_kid_is_fetched_and_accepted(hostile, bff, new_browser, settings):
    settings.OIDC_JWKS_MIN_REFETCH_SECONDS = 0
    first = new_browser()
    assert sign_in(first, bff).status_code == 302
    assert hostile.calls["jwks"] == 1
    new_key = hostile.rotate_keys()
    second = new_browser()
    response = sign_in(second, bff)
    assert response.status_code == 302, response.text
    assert signed_in(second, bff)
    assert hostile.calls["jwks"] == 2
    assert TokenSession.objects.live().count() == 2
    assert hostile.issued[-1]["id_token"] and new_key.kid == "key-1"


def test_a_rotation_within_the_refetch_interval_is_let_through(hostile, bff, new_browser, settings):
    """A genuine rotation: the ID token was issued after our last look at the JWKS."""
    settings.OIDC_JWKS_MIN_REFETCH_SECONDS = 300
    first = new_browser()
    assert sign_in(first, bff).status_code == 302
    time.sleep(1.1)  # the new key's tokens are issued after the key set in hand was fetched
    hostile.rotate_keys()
    hostile.calls.clear()
    second = new_browser()
    response = sign_in(second, bff)
    assert response.status_code == 302, response.text
    assert signed_in(second, bff)
    assert hostile.calls["jwks"] == 1
    assert TokenSession.objects.live().count() == 2


def test_forged_logout_token_kids_do_not_block_a_rotation_for_sign_in(
    hostile, bff, new_browser, settings
):
    settings.OIDC_JWKS_MIN_REFETCH_SECONDS = 300
    assert sign_in(new_browser(), bff).status_code == 302
    attacker = SigningKey.generate("made-up-kid")
    for _ in range(3):
        forged = hostile.sign(hostile.logout_claims(), {"typ": "logout+jwt"}, attacker)
        response = requests.post(
            f"{bff}/auth/backchannel-logout/hostile", data={"logout_token": forged}, timeout=10
        )
        assert response.status_code == 400
    time.sleep(1.1)
    hostile.rotate_keys()
    second = new_browser()
    assert sign_in(second, bff).status_code == 302
    assert signed_in(second, bff)


def test_a_kid_unknown_after_the_refetch_fails_cleanly(hostile, bff, new_browser, settings):
    settings.OIDC_JWKS_MIN_REFETCH_SECONDS = 300
    first = new_browser()
    assert sign_in(first, bff).status_code == 302
    hostile.mutate_id_token(header={"kid": "forged-kid"})
    hostile.calls.clear()
    second = new_browser()
    response = sign_in(second, bff)
    assert response.status_code == 400
    assert "Sign-in failed" in response.text
    assert not signed_in(second, bff)
    assert hostile.calls["jwks"] <= 1  # at most the one look a newly issued token may open
    assert hostile.calls["userinfo"] == 0
    assert TokenSession.objects.live().count() == 1  # only the first browser's


def test_forged_kid_on_a_cold_cache_fetches_the_jwks_once(hostile, bff, browser, settings):
    settings.OIDC_JWKS_MIN_REFETCH_SECONDS = 300
    hostile.mutate_id_token(header={"kid": "forged-kid"})
    response = sign_in(browser, bff)
    assert_sign_in_rejected(
        response, browser, bff, hostile, reason="id_token:no matching signing key"
    )
    assert hostile.calls["jwks"] == 1


def test_single_key_without_kid_is_accepted(hostile, bff, browser):
    hostile.use_single_key_without_kid()
    response = sign_in(browser, bff)
    assert response.status_code == 302, response.text
    assert signed_in(browser, bff)


def test_token_without_kid_is_rejected_when_the_jwks_has_several_keys(hostile, bff, browser):
    hostile.rotate_keys(keep_old=True)
    hostile.mutate_id_token(header={"kid": DELETE})
    response = sign_in(browser, bff)
    assert_sign_in_rejected(
        response, browser, bff, hostile, reason="id_token:no matching signing key"
    )


def test_userinfo_with_another_sub_is_rejected(hostile, bff, browser):
    hostile.mutate_id_token(email=DELETE, name=DELETE)
    hostile.userinfo_overrides["sub"] = "someone-else"
    response = sign_in(browser, bff)
    assert response.status_code == 400
    assert "Sign-in failed" in response.text
    assert not signed_in(browser, bff)
    assert not TokenSession.objects.live().exists()
    assert hostile.calls["userinfo"] == 1


def test_userinfo_without_sub_is_rejected(hostile, bff, browser):
    hostile.mutate_id_token(email=DELETE, name=DELETE)
    hostile.userinfo_overrides["sub"] = DELETE
    response = sign_in(browser, bff)
    assert response.status_code == 400
    assert not signed_in(browser, bff)
    assert not TokenSession.objects.live().exists()


def test_failed_jwks_refetch_still_counts_for_the_rate_limit(hostile, bff, new_browser, settings):
    """A flood of forged kids during a JWKS outage must not hammer the provider."""
    settings.OIDC_JWKS_MIN_REFETCH_SECONDS = 0.5
    assert sign_in(new_browser(), bff).status_code == 302
    time.sleep(0.6)
    hostile.fail("jwks", 500)
    hostile.mutate_id_token(header={"kid": "forged-kid"})
    hostile.calls.clear()
    first = new_browser()
    response = sign_in(first, bff)
    assert response.status_code == 503  # the one re-fetch it tried found the provider down
    assert "Sign-in failed" in response.text
    assert hostile.calls["jwks"] == 1
    second = new_browser()
    response = sign_in(second, bff)
    assert response.status_code == 400
    assert "id_token:no matching signing key" in failure_reasons()
    assert hostile.calls["jwks"] == 1  # no second attempt within the interval
    assert not signed_in(first, bff) and not signed_in(second, bff)


def test_empty_userinfo_response_is_rejected(hostile, bff, browser):
    """Core 5.3.2: UserInfo always carries `sub`; an empty object is no confirmation."""
    hostile.mutate_id_token(email=DELETE, name=DELETE)
    hostile.userinfo_overrides.update(sub=DELETE, email=DELETE, name=DELETE)
    response = sign_in(browser, bff)
    assert response.status_code == 400
    assert "userinfo_sub_mismatch" in failure_reasons()
    assert not signed_in(browser, bff)
    assert not TokenSession.objects.live().exists()


def test_provider_without_userinfo_endpoint_signs_in_on_the_id_token(hostile, bff, browser):
    hostile.discovery_overrides["userinfo_endpoint"] = DELETE
    assert sign_in(browser, bff).status_code == 302
    assert signed_in(browser, bff)
    assert hostile.calls["userinfo"] == 0


def test_leeway_setting_cannot_stretch_beyond_a_minute(hostile, bff, browser, settings):
    settings.OIDC_LEEWAY_SECONDS = 3600
    hostile.mutate_id_token(exp=int(time.time()) - 600, iat=int(time.time()) - 900)
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, reason="id_token:expired")


def test_small_clock_skew_is_tolerated(hostile, bff, browser):
    hostile.mutate_id_token(iat=int(time.time()) + 20)
    assert sign_in(browser, bff).status_code == 302
    assert signed_in(browser, bff)


HEADER_AND_TYPE_MUTATIONS = {
    "nbf_in_future": (
        {"nbf": NOW + 3600},
        {},
        "id_token:not yet valid",
    ),
    "exp_as_string": ({"exp": str(NOW + 300)}, {}, "id_token:exp missing or not a number"),
    "iat_as_bool": ({"iat": True}, {}, "id_token:iat missing or not a number"),
    "sub_not_a_string": ({"sub": 12345}, {}, "id_token:undecodable JWT"),
    "aud_not_a_string": ({"aud": 12345}, {}, "id_token:aud missing or malformed"),
    "crit_header": ({}, {"crit": ["exp"]}, "id_token:malformed JWT header"),
    "kid_not_a_string": ({}, {"kid": 7}, "id_token:malformed JWT header"),
    "alg_missing": ({}, {"alg": DELETE}, "id_token:algorithm None not allowed"),
    "alg_rs512_not_advertised": ({}, {"alg": "RS512"}, "id_token:algorithm 'RS512' not allowed"),
}


@pytest.mark.parametrize("mutation", HEADER_AND_TYPE_MUTATIONS, ids=list(HEADER_AND_TYPE_MUTATIONS))
def test_id_token_with_malformed_fields_is_rejected(hostile, bff, browser, mutation):
    claims, header, reason = HEADER_AND_TYPE_MUTATIONS[mutation]
    hostile.mutate_id_token(header=header, **claims)
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, reason=reason)


@pytest.mark.parametrize(
    "overrides",
    [{"id_token": DELETE}, {"token_type": "mac"}, {"access_token": DELETE}, {"id_token": 42}],
    ids=["no_id_token", "not_bearer", "no_access_token", "id_token_not_a_string"],
)
def test_unusable_token_response_fails_cleanly(hostile, bff, browser, overrides):
    hostile.token_response_overrides.update(overrides)
    response = sign_in(browser, bff)
    assert_sign_in_rejected(response, browser, bff, hostile, status=502)


def test_userinfo_is_skipped_when_configured_off(hostile, bff, browser, settings):
    settings.OIDC_PROVIDERS = {
        "hostile": {**settings.OIDC_PROVIDERS["hostile"], "userinfo": "never"}
    }
    assert sign_in(browser, bff).status_code == 302
    assert signed_in(browser, bff)
    assert hostile.calls["userinfo"] == 0
