"""WWW-Authenticate parsing (bff/challenges.py) and what the gateway reads from it as a
step-up request (bff/step_up.py): the auth-param grammar, and hostile headers."""

from __future__ import annotations

import random
import string

import pytest

from bff.challenges import MAX_HEADER_LENGTH, Challenge, bearer_error, parse_challenges
from bff.step_up import StepUp, required_by

STEP_UP = 'Bearer error="insufficient_user_authentication"'


def test_quoted_strings_keep_commas_and_escapes():
    [bearer, basic] = parse_challenges(
        r'Bearer realm="a, b", error="x\"y", acr_values="urn:a urn:b", Basic realm="r"'
    )
    assert bearer == Challenge(
        "bearer", {"realm": "a, b", "error": 'x"y', "acr_values": "urn:a urn:b"}
    )
    assert basic == Challenge("basic", {"realm": "r"})


def test_token_values_whitespace_and_case():
    [challenge] = parse_challenges("BEARER  Error = insufficient_user_authentication ,MAX_AGE=0")
    assert challenge.scheme == "bearer"
    assert challenge.params == {"error": "insufficient_user_authentication", "max_age": "0"}


def test_token68_and_bare_schemes_between_challenges():
    challenges = parse_challenges('Negotiate abc==, Basic, Bearer error="e"')
    assert [(c.scheme, c.token68, c.params) for c in challenges] == [
        ("negotiate", "abc==", {}),
        ("basic", None, {}),
        ("bearer", None, {"error": "e"}),
    ]


def test_several_headers_joined_and_empty_elements():
    [challenge] = parse_challenges(' , Bearer , error="e",, max_age=5 ,')
    assert challenge.params == {"error": "e", "max_age": "5"}


@pytest.mark.parametrize(
    "header",
    [
        'Bearer error="unterminated, acr_values="x"',  # the quote never closes
        'Bearer error="a", error="b"',  # a parameter twice
        "Bearer error=a error=b",  # no comma between parameters
        'error="insufficient_user_authentication"',  # parameters without a scheme
        'Bearer error=""x',  # junk after a quoted string
        'Bearer error="a\x00b"',  # a control character in a quoted string
        'Bearer\x00error="e"',
        'Bearer error="e\nX-Injected: 1"',
        'Bearer error="e", =x',
        'Bearer error="e", "loose string"',
        "Bearer error=\u00e9",  # not a token character
        "Bearer error=" + "a" * (MAX_HEADER_LENGTH + 1),
    ],
)
def test_malformed_headers_yield_no_bearer_error(header):
    assert bearer_error(header) is None


def test_a_broken_challenge_after_a_good_one_leaves_the_good_one():
    [basic] = parse_challenges('Basic realm="r", Bearer error="e", error="again"')
    assert basic.scheme == "basic"


def test_broken_text_after_a_challenge_drops_that_challenge():
    parsed = parse_challenges('Basic realm="r", Bearer error="e", =x')
    assert parsed == [Challenge("basic", {"realm": "r"})]


@pytest.mark.parametrize("seed", range(20))
def test_random_headers_never_raise(seed):
    rng = random.Random(seed)
    alphabet = string.printable + '"\\=,\x00\x7f\u00e9\u2028 '
    for _ in range(300):
        header = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        for prefix in ("", "Bearer ", 'Bearer error="insufficient_user_authentication", '):
            parse_challenges(prefix + header)
            required_by({"WWW-Authenticate": prefix + header}, 401)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f'{STEP_UP}, acr_values="urn:bff:demo:mfa"', StepUp(("urn:bff:demo:mfa",), None)),
        (f"{STEP_UP}, max_age=300", StepUp((), 300)),
        (f'{STEP_UP}, acr_values="a b a", max_age="0"', StepUp(("a", "b"), 0)),
        (f'Basic realm="x", {STEP_UP}, acr_values="urn:x"', StepUp(("urn:x",), None)),
    ],
)
def test_step_up_is_read_from_a_401(header, expected):
    assert required_by({"WWW-Authenticate": header}, 401) == expected


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (f'{STEP_UP}, acr_values="urn:x"', 403),  # only a 401 asks for a sign-in
        (f'{STEP_UP}, acr_values="urn:x"', 200),
        ('Bearer error="invalid_token", acr_values="urn:x"', 401),
        (STEP_UP, 401),  # nothing to ask the provider for
        (f"{STEP_UP}, max_age=-1", 401),
        (f"{STEP_UP}, max_age=1.5", 401),
        (f"{STEP_UP}, max_age=9999999999", 401),
        (f'{STEP_UP}, acr_values="urn:x&prompt=none"', 401),  # no authorize parameters
        (f'{STEP_UP}, acr_values="urn:x\\"y"', 401),
        (f'{STEP_UP}, acr_values=""', 401),
        (f'{STEP_UP}, acr_values="{"a" * 129}"', 401),
        (f'{STEP_UP}, acr_values="{" ".join(f"v{i}" for i in range(9))}"', 401),
        (f'{STEP_UP}, acr_values="urn:x", max_age=bad', 401),
        ('Basic error="insufficient_user_authentication", acr_values="urn:x"', 401),
        (f"{STEP_UP}, acr_values=urn:x", 401),  # ":" is no token character: quote it
    ],
)
def test_unusable_step_up_challenges_are_not_step_ups(header, status):
    assert required_by({"WWW-Authenticate": header}, status) is None
