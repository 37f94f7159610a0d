"""Route rules: per upstream, which calls need which scopes or user claims, and which paths
are closed. Configured in BFF_UPSTREAMS[name]["rules"] and BFF_ROUTE_RULES (docs/gateway.md):

    {"methods": ["DELETE"], "path": "/items", "scopes": ["items:write"]}
    {"path": "/billing", "claims": {"groups": "billing"}}
    {"path": "/admin", "deny": true}

A rule matches a call when its method is listed (any, when none are; GET covers HEAD) and
the call's path inside the upstream is the rule's path or below it ("/items" matches
/items, /items/ and /items/7, not /itemsx). Every matching rule applies: a deny refuses, and
the scopes and claims of all of them are required. Paths are compared percent-decoded, with
";parameters" cut from each segment and case-folded, so spelling a path differently for a
lenient upstream server only ever makes more rules apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from django.core.exceptions import ImproperlyConfigured

from oidc.claims import claim_values

RULE_KEYS = ("path", "methods", "scopes", "claims", "deny")


@dataclass(frozen=True)
class Rule:
    """One route rule, as validated."""

    path: str  # lower case, no trailing "/" except the root
    methods: frozenset[str] = frozenset()  # empty: every method
    scopes: tuple[str, ...] = ()  # all of them in the access token
    claims: tuple[tuple[str, tuple[str, ...]], ...] = ()  # claim -> one of these values
    deny: bool = False

    def matches(self, method: str, path: str) -> bool:
        """`path` as comparable_path gives it."""
        if self.methods and method not in self.methods:
            return False
        return self.path == "/" or path == self.path or path.startswith(self.path + "/")

    def describe(self) -> str:
        if self.deny:
            return "deny"
        parts = []
        if self.scopes:
            parts.append("scopes: " + " ".join(self.scopes))
        for claim, values in self.claims:
            parts.append(f"claim {claim}: " + " or ".join(values))
        return "; ".join(parts)


def comparable_path(raw_path: str) -> str:
    """A call's path inside its upstream (still percent-encoded, as the gateway checked and
    forwards it) in the form rules are compared with."""
    decoded = unquote(raw_path, errors="replace")
    segments = [segment.partition(";")[0] for segment in decoded.split("/")]
    path = "/".join(segments).casefold().rstrip("/")
    return path if path.startswith("/") else "/" + path


def refusal(
    rules: Iterable[Rule],
    method: str,
    path: str,
    scopes: Callable[[], frozenset[str]],
    claims: Callable[[], Mapping[str, Any]],
) -> dict[str, Any] | None:
    """What the matching rules require and the call lacks, or None when it may pass.

    `scopes` and `claims` are asked only when a matching rule needs them."""
    matching = [rule for rule in rules if rule.matches(method, path)]
    if any(rule.deny for rule in matching):
        return {"deny": True}
    required: dict[str, Any] = {}
    needed = {scope for rule in matching for scope in rule.scopes}
    if needed and (missing := sorted(needed - scopes())):
        required["scopes"] = missing
    unmet: dict[str, list[str]] = {}
    pairs = [pair for rule in matching for pair in rule.claims]
    held = dict(claims()) if pairs else {}
    for claim, values in pairs:
        if not claim_values(held, claim) & set(values):
            listed = unmet.setdefault(claim, [])
            listed += [value for value in values if value not in listed]
    if unmet:
        required["claims"] = unmet
    return required or None


def needs_claims(rules: Iterable[Rule], method: str, path: str) -> bool:
    return any(rule.claims for rule in rules if rule.matches(method, path))


# --- Validation --------------------------------------------------------------------------------


def parse_rules(where: str, raw: Any, known_methods: Iterable[str]) -> tuple[Rule, ...]:
    """Rules from configuration; ImproperlyConfigured naming the rule and what to fix."""
    if not isinstance(raw, list | tuple):
        raise ImproperlyConfigured(
            f"{where} is a list of rules, e.g. "
            '[{"path": "/admin", "deny": true}]; got ' + type(raw).__name__ + "."
        )
    return tuple(_rule(f"{where}[{index}]", item, known_methods) for index, item in enumerate(raw))


def _rule(where: str, raw: Any, known_methods: Iterable[str]) -> Rule:
    def fail(problem: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"{where}: {problem}")

    if not isinstance(raw, Mapping):
        raise fail('a rule is an object, e.g. {"path": "/admin", "deny": true}.')
    unknown = sorted(set(raw) - set(RULE_KEYS))
    if unknown:
        raise fail(f"unknown key {unknown[0]!r}; a rule has {', '.join(RULE_KEYS)}.")
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise fail('"path" is required: the path prefix inside the upstream, starting with "/".')
    methods = _methods(raw.get("methods"), known_methods, fail)
    scopes = raw.get("scopes", [])
    if not isinstance(scopes, list) or not all(
        isinstance(s, str) and s and not any(c.isspace() for c in s) for s in scopes
    ):
        raise fail('"scopes" is a list of scope names, e.g. ["items:write"].')
    claims = _claims(raw.get("claims", {}), fail)
    deny = raw.get("deny", False)
    if not isinstance(deny, bool):
        raise fail('"deny" is true or false.')
    if deny and (scopes or claims):
        raise fail('"deny" refuses every matching call: drop its "scopes" and "claims".')
    if not (deny or scopes or claims):
        raise fail('the rule requires nothing: give it "scopes", "claims" or "deny": true.')
    return Rule(
        path=comparable_path(path),
        methods=methods,
        scopes=tuple(dict.fromkeys(scopes)),
        claims=claims,
        deny=deny,
    )


def _methods(
    raw: Any, known: Iterable[str], fail: Callable[[str], ImproperlyConfigured]
) -> frozenset[str]:
    if raw is None:
        return frozenset()
    known = tuple(known)
    if not isinstance(raw, list) or not raw or not all(isinstance(m, str) for m in raw):
        raise fail(f'"methods" is a list of methods, e.g. ["DELETE"], from {", ".join(known)}.')
    methods = {method.upper() for method in raw}
    if unknown := sorted(methods - set(known)):
        raise fail(f"unknown method {unknown[0]!r}; methods are {', '.join(known)}.")
    if "GET" in methods:
        methods.add("HEAD")  # an upstream answers HEAD as it would GET
    return frozenset(methods)


def _claims(
    raw: Any, fail: Callable[[str], ImproperlyConfigured]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    problem = (
        '"claims" maps a claim to the value it must hold, or to values of which one is enough: '
        '{"groups": "billing"} or {"groups": ["billing", "admin"]}.'
    )
    if not isinstance(raw, Mapping):
        raise fail(problem)
    claims = []
    for claim, values in raw.items():
        listed = [values] if isinstance(values, str) else values
        if not (isinstance(claim, str) and claim and isinstance(listed, list) and listed):
            raise fail(problem)
        if not all(isinstance(value, str) and value for value in listed):
            raise fail(problem)
        claims.append((claim, tuple(dict.fromkeys(listed))))
    return tuple(claims)
