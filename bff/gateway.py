"""What the gateway lets through to an upstream: its rate limits first, then its route rules
(bff/rate_limits.py, bff/routes.py; docs/gateway.md). `proxy.forward` calls `admit` once
the upstream, the method and the bearer are known; a call refused here never reaches the
upstream and its body is never read."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from bff.addresses import client_address
from bff.conf import bff_settings
from bff.rate_limits import RateLimits, parse_limits, spend, unknown_upstreams
from bff.responses import json_error, session_over
from bff.routes import Rule, comparable_path, parse_rules, refusal
from oidc.claims import token_scopes, unverified_claims

if TYPE_CHECKING:
    from bff.upstreams import Upstream

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """An upstream's route rules and rate limits."""

    rules: tuple[Rule, ...] = ()
    limits: RateLimits = field(default_factory=RateLimits)


def build_policy(name: str, rules: Any, rate_limits: Any, known_methods: Iterable[str]) -> Policy:
    """The policy of upstream `name` from its BFF_UPSTREAMS entry ("rules", "rate_limits")
    and from BFF_ROUTE_RULES and BFF_RATE_LIMITS; ImproperlyConfigured says what to fix."""
    known_methods = tuple(known_methods)
    parsed = parse_rules(f"BFF_UPSTREAMS[{name!r}]['rules']", rules, known_methods)
    more = _route_rules().get(name, [])
    parsed += parse_rules(f"BFF_ROUTE_RULES[{name!r}]", more, known_methods)
    limits = parse_limits(name, _rate_limits(), rate_limits)
    return Policy(rules=parsed, limits=limits)


def check_references(names: set[str]) -> None:
    """BFF_ROUTE_RULES and BFF_RATE_LIMITS name only configured upstreams."""
    for name in _route_rules():
        if name not in names:
            raise ImproperlyConfigured(
                f"BFF_ROUTE_RULES[{name!r}]: there is no upstream {name!r} "
                f"(BFF_UPSTREAMS has {', '.join(sorted(names)) or 'none'})."
            )
    unknown_upstreams(_rate_limits(), names)


def _route_rules() -> Mapping[str, Any]:
    rules = bff_settings.BFF_ROUTE_RULES
    if not isinstance(rules, Mapping):
        raise ImproperlyConfigured(
            'BFF_ROUTE_RULES maps upstream names to lists of rules: {"demo": [...]}.'
        )
    return rules


def _rate_limits() -> Mapping[str, Any]:
    limits = bff_settings.BFF_RATE_LIMITS
    if not isinstance(limits, Mapping):
        raise ImproperlyConfigured(
            'BFF_RATE_LIMITS maps kinds to budgets: {"session": "120/60"} '
            '(from the environment: "session=120/60,anonymous=30/60").'
        )
    return limits


def over_budget(request: HttpRequest, name: str, limits: RateLimits) -> int | None:
    """Count this call against the caller's budget (its session, else its address), then the
    upstream's; the seconds to wait when one is spent, else None."""
    record = getattr(request, "token_session", None)
    budget = limits.session if record is not None else limits.anonymous
    if budget is not None:
        if record is not None:
            caller = f"session:{record.pk}"
        else:
            caller = f"address:{client_address(request) or 'unknown'}"
        wait = spend(f"bff:rate:{name}:{caller}", budget.count, budget.seconds)
        if wait is not None:
            return wait
    if limits.upstream is not None:
        return spend(f"bff:rate:{name}:all", limits.upstream.count, limits.upstream.seconds)
    return None


def admit(
    request: HttpRequest, upstream: Upstream, method: str, url: str, token: str | None
) -> HttpResponse | None:
    """None when the call to `url` may go on with bearer `token`; else the answer: 429
    (a budget is spent), 403 (a rule refuses it) or 401 (a rule wants a signed-in user)."""
    policy = upstream.policy
    wait = over_budget(request, upstream.name, policy.limits)
    if wait is not None:
        logger.info("api refused status=429 error=rate_limited upstream=%s", upstream.name)
        response = json_error(
            429,
            "rate_limited",
            f"Too many calls to this API. Try again in {wait} seconds.",
            retry_after=wait,
        )
        response["Retry-After"] = str(wait)
        return response
    if not policy.rules:
        return None
    record = getattr(request, "token_session", None)
    required = refusal(
        policy.rules,
        method,
        comparable_path(url[len(upstream.url) :].partition("?")[0]),
        scopes=lambda: token_scopes(unverified_claims(token)) if token else frozenset(),
        claims=lambda: unverified_claims(record.tokens.id_token) if record else {},
    )
    if required is None:
        return None
    if "claims" in required and record is None:
        return session_over(request)
    logger.info("api refused status=403 error=forbidden upstream=%s", upstream.name)
    message = (
        "This API path is closed."
        if required.get("deny")
        else "Your sign-in does not allow this call."
    )
    return json_error(403, "forbidden", message, required=required)
