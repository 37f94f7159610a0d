"""Step-up authentication (RFC 9470): an upstream says the user's authentication is not
strong or recent enough, and the browser is sent to sign in again with what it asked for.

    upstream: 401  WWW-Authenticate: Bearer error="insufficient_user_authentication",
                                     acr_values="urn:...:mfa", max_age=300
    /api:     401  {"error": "step_up_required", "acr_values": "urn:...:mfa", "max_age": 300,
                    "login_url": "/auth/login?next=/&step_up=<signed>"}

The request travels in `login_url` signed (and dated): a client can follow it, never write
its own, so the authorization request carries only what an upstream asked for. The `next`
beside it is the client's to set (checked by safe_next like any other).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.http import JsonResponse
from django.shortcuts import resolve_url

from bff.challenges import bearer_error
from bff.conf import bff_settings
from bff.responses import json_error

ERROR = "insufficient_user_authentication"
# The login URL's parameter that carries the signed request.
PARAM = "step_up"
SALT = "bff.step_up"
# acr values are URIs or short names: these characters, this long, this many.
_ACR_VALUE = re.compile(r"[A-Za-z0-9._~:/#@+-]{1,128}")
MAX_ACR_VALUES = 8
# max_age: seconds, a plain non-negative integer (Core 3.1.2.1), at most ten years.
_MAX_AGE = re.compile(r"[0-9]{1,9}")


class InvalidStepUp(Exception):
    """A step-up request (a challenge, or a signed link) that cannot be used."""


@dataclass(frozen=True)
class StepUp:
    """What a new sign-in must achieve: one of `acr_values`, and/or authentication no older
    than `max_age` seconds."""

    acr_values: tuple[str, ...] = ()
    max_age: int | None = None

    @property
    def acr_string(self) -> str:
        return " ".join(self.acr_values)


def parse_acr_values(value: object) -> tuple[str, ...]:
    """Space-separated acr values, each of a sane charset and length; InvalidStepUp if not."""
    if not isinstance(value, str):
        raise InvalidStepUp("acr_values is not a string")
    values = tuple(dict.fromkeys(value.split(" ")))
    if (
        not value
        or len(values) > MAX_ACR_VALUES
        or not all(_ACR_VALUE.fullmatch(v) for v in values)
    ):
        raise InvalidStepUp("acr_values is malformed")
    return values


def parse_max_age(value: object) -> int:
    if isinstance(value, bool):
        raise InvalidStepUp("max_age is malformed")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not _MAX_AGE.fullmatch(value):
        raise InvalidStepUp("max_age is malformed")
    return int(value)


def step_up_of(params: Mapping[str, object]) -> StepUp:
    """A StepUp from `acr_values` and/or `max_age`; InvalidStepUp when neither is usable
    or either is malformed."""
    acr = parse_acr_values(params["acr_values"]) if "acr_values" in params else ()
    max_age = parse_max_age(params["max_age"]) if "max_age" in params else None
    if not acr and max_age is None:
        raise InvalidStepUp("neither acr_values nor max_age")
    return StepUp(acr_values=acr, max_age=max_age)


def required_by(headers: Mapping[str, str], status: int) -> StepUp | None:
    """The step-up an upstream's 401 asks for, or None (another 401, or a challenge we cannot
    act on: it is then relayed as it came)."""
    if status != 401:
        return None
    challenge = bearer_error(headers.get("WWW-Authenticate"))
    if challenge is None or challenge.params.get("error") != ERROR:
        return None
    try:
        return step_up_of(challenge.params)
    except InvalidStepUp:
        return None


def signed(step_up: StepUp) -> str:
    data: dict[str, object] = {}
    if step_up.acr_values:
        data["acr_values"] = step_up.acr_string
    if step_up.max_age is not None:
        data["max_age"] = step_up.max_age
    return signing.dumps(data, salt=SALT, compress=True)


def from_signed(value: str | None) -> StepUp:
    """The StepUp a login URL carries; InvalidStepUp when forged, altered or too old."""
    if not value or not isinstance(value, str) or len(value) > 2048:
        raise InvalidStepUp("no step-up request")
    try:
        data = signing.loads(value, salt=SALT, max_age=bff_settings.BFF_STEP_UP_LINK_SECONDS)
    except signing.BadSignature as exc:  # also SignatureExpired
        raise InvalidStepUp("step-up link not valid") from exc
    if not isinstance(data, dict):
        raise InvalidStepUp("step-up link not valid")
    return step_up_of(data)


def login_url(step_up: StepUp, next_path: str = "/") -> str:
    """Sign-in asking for `step_up`, then back to `next_path`."""
    query = urlencode({"next": next_path, PARAM: signed(step_up)})
    return resolve_url(settings.LOGIN_URL) + "?" + query


def step_up_response(step_up: StepUp) -> JsonResponse:
    """401 step_up_required for /api, with what was asked and where to sign in."""
    return json_error(
        401,
        "step_up_required",
        "This needs a stronger or more recent sign-in.",
        acr_values=step_up.acr_string or None,
        max_age=step_up.max_age,
        login_url=login_url(step_up),
    )
